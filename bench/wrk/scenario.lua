-- One benchmark scenario for wrk. The method, body and headers come from the environment
-- (BENCH_METHOD, BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_TOKEN); BENCH_MAX_REQUESTS stops each
-- thread after that many responses (0: run for the whole duration). `done` prints one line,
-- `BENCH_JSON {...}`, that bench/load.py reads: counts, socket errors, latency percentiles.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local content_type = os.getenv("BENCH_CONTENT_TYPE") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
-- With BENCH_ID_HIGH set, each request reads BENCH_PATH with "{id}" replaced by a random id
-- from BENCH_ID_LOW to BENCH_ID_HIGH (rows a cache has not seen yet).
local path_template = os.getenv("BENCH_PATH") or ""
local id_low = tonumber(os.getenv("BENCH_ID_LOW") or "0")
local id_high = tonumber(os.getenv("BENCH_ID_HIGH") or "0")

wrk.method = method
if body ~= "" then wrk.body = body end
if content_type ~= "" then wrk.headers["Content-Type"] = content_type end
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

if id_high > 0 then
   request = function()
      local id = tostring(math.random(id_low, id_high))
      return wrk.format(nil, (string.gsub(path_template, "{id}", id)))
   end
end

function init(args)
   math.randomseed(os.time())
   responses = 0
   non2xx = 0
   first_bad = ""
end

function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_bad == "" then first_bad = tostring(status) end
   end
   if max_requests > 0 and responses >= max_requests then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local bad, sample = 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
      if sample == "" then sample = thread:get("first_bad") end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "first_bad": "%s", ' ..
      '"connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, bad, sample,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50.0), latency:percentile(99.0), latency.mean))
end
