"""The benchmark: the service under gunicorn and uvicorn against bare FastAPI baselines.

`python -m bench` (or `make bench`) measures; `python -m bench --smoke` only checks that every
scenario runs without an error. See bench/RESULTS.md for the numbers and how to read them.
"""
