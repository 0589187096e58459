"""Every dependency and endpoint runs on the event loop: FastAPI calls a plain function in a
worker thread, a hop that costs more CPU than most dependencies do."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm

# Login's form is a class FastAPI builds in a thread; the argon2 hash after it costs 100x more.
ALLOWED_IN_A_THREAD: set[Any] = {OAuth2PasswordRequestForm}


def _on_the_loop(call: Callable[..., Any]) -> bool:
    if inspect.isclass(call):
        return False
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def test_no_dependency_or_endpoint_runs_in_a_worker_thread(application: FastAPI) -> None:
    threaded: set[str] = set()
    for route in iter_route_contexts(application.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        for call in [route.original_route.endpoint, *_calls(route.dependant)]:
            if call not in ALLOWED_IN_A_THREAD and not _on_the_loop(call):
                name = getattr(call, "__qualname__", repr(call))
                threaded.add(f"{name} ({route.path_format})")
    assert not threaded, sorted(threaded)
