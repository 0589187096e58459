"""Tasks by name: a domain's `tasks.py` declares its handlers with `@task(...)`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets. Its database writes share one transaction with the job's `done`
    mark, so a run that dies before that commit leaves no trace and is retried; anything it
    does outside the database must be safe to repeat, keyed by `key`."""

    session: AsyncSession
    settings: Settings
    job_id: int
    key: str
    attempt: int
    owner_id: int | None
    payload: dict[str, Any]


Handler = Callable[[JobContext], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    handler: Handler
    max_attempts: int | None
    every: timedelta | None


_TASKS: dict[str, Task] = {}


def task(
    name: str, *, max_attempts: int | None = None, every: timedelta | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler under `name` (stable: it is stored in queued rows). With `every`,
    the worker enqueues it once per period, however many replicas run."""

    def register(handler: Handler) -> Handler:
        known = _TASKS.get(name)
        if known is not None and known.handler is not handler:
            raise ValueError(f"task {name!r} is registered twice")
        _TASKS[name] = Task(name, handler, max_attempts, every)
        return handler

    return register


def get(name: str) -> Task | None:
    return _TASKS.get(name)


def tasks() -> list[Task]:
    return sorted(_TASKS.values(), key=lambda known: known.name)


def discover(package: str) -> list[str]:
    """Import `<package>.<sub>.tasks` for every subpackage with a `tasks.py` (found on disk,
    so no other subpackage is imported), so each process knows every task without a list to
    keep in step; the module names imported."""
    root = importlib.import_module(package)
    found = []
    for folder in root.__path__:
        for sub in pkgutil.iter_modules([folder]):
            if sub.ispkg and (Path(folder) / sub.name / "tasks.py").is_file():
                found.append(f"{package}.{sub.name}.tasks")
    for name in found:
        importlib.import_module(name)
    return sorted(found)
