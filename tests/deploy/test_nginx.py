"""deploy/nginx/ as shipped, run by Debian's nginx in front of a real gunicorn, over TLS with a
certificate made here: the app sees https and the real client, redirects stay on https, slow
and oversized requests stop at nginx, /metrics is not public, TLS below 1.2 is refused.

Runs with NGINX_TESTS=1 (`.ci/proxy.sh` installs nginx and sets it); a missing nginx then
fails instead of skipping. The clients connect from 127.0.0.2, nginx from 127.0.0.1, so the
address the app reports can only be the client's if the forwarding works.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT
from tests.servers import HOST, Server, reserve_port, start_server

pytestmark = pytest.mark.slow

SITE = ROOT / "deploy" / "nginx" / "fastapi-service-template.conf"
CLIENT_ADDRESS = "127.0.0.2"
HEADER_TIMEOUT = 10  # client_header_timeout in the site file, checked below

if os.environ.get("NGINX_TESTS") != "1":
    pytest.skip("nginx tests run with NGINX_TESTS=1 (.ci/proxy.sh)", allow_module_level=True)
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
if NGINX is None:
    raise RuntimeError("NGINX_TESTS=1 but nginx is missing: apt-get install nginx-light")


def directive(name: str, text: str | None = None) -> list[str]:
    """The values of every `name ...;` line in the site file (or in `text`)."""
    source = SITE.read_text(encoding="utf-8") if text is None else text
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{name}\s+([^;]*);", source, re.M)]


def seconds(value: str) -> int:
    assert value.endswith("s"), value
    return int(value[:-1])


def render_site(http_port: int, https_port: int, upstream: int, tls: Path) -> str:
    """The shipped file with only its ports, upstream and certificate paths changed; each
    replacement must match exactly what the file says, so a reworded file fails here."""
    text = SITE.read_text(encoding="utf-8")
    replacements = [
        (r"^(\s*)listen 80;$", rf"\g<1>listen {HOST}:{http_port};"),
        (r"^\s*listen \[::\]:80;\n", ""),
        (r"^(\s*)listen 443 ssl;$", rf"\g<1>listen {HOST}:{https_port} ssl;"),
        (r"^\s*listen \[::\]:443 ssl;\n", ""),
        (r"server 127\.0\.0\.1:8000;", f"server {HOST}:{upstream};"),
        (r"/etc/nginx/tls/fullchain\.pem", str(tls / "cert.pem")),
        (r"/etc/nginx/tls/privkey\.pem", str(tls / "key.pem")),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count == 1, f"{pattern!r} matched {count} times in {SITE.name}"
    return text


def make_certificate(folder: Path) -> None:
    folder.mkdir()
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl makes the test certificate"
    subprocess.run(  # noqa: S603
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", f"subjectAltName=DNS:localhost,IP:{HOST}",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@dataclass
class Proxy:
    http_port: int
    https_port: int
    upstream: Server
    tls: Path

    def context(self, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.tls / "cert.pem"))
        if maximum is not None:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum
            context.set_ciphers("ALL:@SECLEVEL=0")
        return context

    def connect(self, port: int | None = None, *, tls: bool = True) -> socket.socket:
        raw = socket.create_connection(
            (HOST, port or self.https_port), timeout=20, source_address=(CLIENT_ADDRESS, 0)
        )
        return self.context().wrap_socket(raw, server_hostname=HOST) if tls else raw


def exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request with `Connection: close` and read the whole response."""
    sock.sendall(request)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}Connection: close\r\n\r\n".encode()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Proxy]:
    work = tmp_path_factory.mktemp("nginx")
    tls = work / "tls"
    make_certificate(tls)

    def gunicorn(port: int) -> tuple[list[str], dict[str, str]]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
        env.update(
            PORT=str(port), HOST=HOST, WORKERS="1", DATABASE_URL=database_url,
            FORWARDED_ALLOW_IPS=HOST, KEEPALIVE="75", JSON_LOG="true", LEVEL="INFO",
            PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"), RATE_LIMIT_ENABLED="false",
        )  # fmt: skip
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], env

    upstream = start_server(gunicorn, cwd=ROOT, output=work / "gunicorn.out", new_session=True)
    http_port, https_port = reserve_port(), reserve_port()
    (work / "site.conf").write_text(render_site(http_port, https_port, upstream.port, tls))
    for folder in ("body", "proxy", "logs"):
        (work / folder).mkdir(mode=0o777)
    (work / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {work}/logs/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    include {work}/site.conf;
}}
""",
        encoding="utf-8",
    )
    error_log = str(work / "logs" / "error.log")
    nginx = subprocess.Popen(  # noqa: S603
        [NGINX, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", error_log],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    proxy = Proxy(http_port, https_port, upstream, tls)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                proxy.connect().close()
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "logs/error.log").read_text()) from None
                time.sleep(0.2)
        yield proxy
    finally:
        nginx.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
        try:
            nginx.wait(20)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(5)
        upstream.stop()


def access_line(upstream: Server, marker: str) -> dict[str, object]:
    """The app's JSON access line for the request with the request id `marker`."""
    for _ in range(50):
        for line in upstream.output_text().splitlines():
            if marker in line and '"kind": "access"' in line:
                record: dict[str, object] = json.loads(line)
                return record
        time.sleep(0.1)
    raise AssertionError(f"no access line for {marker}:\n{upstream.output_text()[-3000:]}")


def test_the_app_sees_https_and_the_client_address_not_what_the_client_claims(
    proxy: Proxy,
) -> None:
    marker = uuid.uuid4().hex
    spoof = f"X-Request-ID: {marker}\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: http\r\n"
    status, headers, _ = exchange(proxy.connect(), get("/api/v1/version", spoof))
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    line = json.dumps(access_line(proxy.upstream, marker))
    assert f'"{CLIENT_ADDRESS}:' in line, line
    assert "203.0.113.9" not in line
    assert f'"{HOST}:' not in line  # nginx's own address is not what the app reports


def test_redirects_from_the_app_keep_https(proxy: Proxy) -> None:
    """The app builds absolute redirects from the scheme it sees (slash redirect here)."""
    status, headers, _ = exchange(proxy.connect(), get("/api/v1/items/"))
    assert status == 307, (status, headers)
    assert headers["location"].startswith(f"https://{HOST}"), headers["location"]


def test_plain_http_is_redirected_to_https_keeping_path_and_method(proxy: Proxy) -> None:
    request = f"POST /api/v1/items?x=1 HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\n"
    status, headers, _ = exchange(
        proxy.connect(proxy.http_port, tls=False), f"{request}Connection: close\r\n\r\n".encode()
    )
    assert status == 308
    assert headers["location"] == f"https://{HOST}/api/v1/items?x=1"


def test_a_client_sending_its_headers_slowly_is_cut_by_nginx(proxy: Proxy) -> None:
    (timeout,) = directive("client_header_timeout")
    assert seconds(timeout) == HEADER_TIMEOUT
    sock = proxy.connect()
    sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    started = time.monotonic()
    closed_after = None
    while time.monotonic() - started < HEADER_TIMEOUT + 10:
        try:
            sock.sendall(b"X-Slow: 1\r\n")  # a header line every second, never the end
            sock.settimeout(1)
            if sock.recv(1024) == b"":
                closed_after = time.monotonic() - started
                break
        except TimeoutError:
            continue
        except (ConnectionError, ssl.SSLError):
            closed_after = time.monotonic() - started
            break
    sock.close()
    assert closed_after is not None, "nginx kept a slow-header client past its timeout"
    assert HEADER_TIMEOUT - 1 <= closed_after <= HEADER_TIMEOUT + 5, closed_after


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_refused_before_the_app(proxy: Proxy, chunked: bool) -> None:
    (limit,) = directive("client_max_body_size")
    assert limit == "1m"
    size = 1024 * 1024 + 1
    if chunked:
        framing, body = "Transfer-Encoding: chunked", f"{size:x}\r\n".encode() + b"x" * size
    else:
        framing, body = f"Content-Length: {size}", b"x" * size
    head = (
        f"POST /api/v1/items HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = proxy.connect()
    # nginx may answer and close before the whole body is sent.
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        sock.sendall(head + body + (b"\r\n0\r\n\r\n" if chunked else b""))
    data = b""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := sock.recv(65536):
            data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]


def test_metrics_are_not_public_however_the_path_is_spelled(proxy: Proxy) -> None:
    for path in ("/metrics", "/metrics/", "/%6detrics", "//metrics", "/metrics?x=1"):
        status, _, body = exchange(proxy.connect(), get(path))
        assert status == 404, (path, status)
        assert b"http_requests" not in body


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_only_tls_1_2_and_1_3_are_spoken(proxy: Proxy) -> None:
    assert directive("ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        raw = socket.create_connection((HOST, proxy.https_port), timeout=10)
        with proxy.context(maximum=version).wrap_socket(raw, server_hostname=HOST) as tls:
            assert tls.version() == version.name.replace("_", ".")
    raw = socket.create_connection((HOST, proxy.https_port), timeout=10)
    with pytest.raises(ssl.SSLError):
        proxy.context(maximum=ssl.TLSVersion.TLSv1_1).wrap_socket(raw, server_hostname=HOST)
    raw.close()
