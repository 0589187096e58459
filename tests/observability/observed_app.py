"""The service plus one route that fails unexpectedly, for observability tests under a real
gunicorn (never imported by the test process itself: importing it builds the app)."""

from __future__ import annotations

from tests.core.serving_app import app


@app.get("/boom")
async def boom() -> None:
    """An unhandled error: the last-resort 500, logged and reported."""
    raise RuntimeError("boom on purpose")
