"""The service plus one slow route, for serving tests under a real gunicorn (never imported
by the test process itself: importing it builds the app from the environment)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from app.main import app


@app.get("/slow")
async def slow(seconds: float = 1.0, started: str | None = None) -> dict[str, float]:
    """Holds a request open, so a test can send a signal while it is in flight; the test
    knows it is by the file `started`, written once the request is being handled."""
    if started:
        await asyncio.to_thread(Path(started).touch)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@app.get("/pid")
async def pid() -> dict[str, int]:
    """Which worker answered, so a test can hold connections to two different workers."""
    return {"pid": os.getpid()}
