"""Tasks are found by their domain's `tasks.py`, and a name means one handler."""

from __future__ import annotations

import pytest

from app.core.jobs import registry
from app.core.jobs.registry import JobContext, task


def test_every_domains_tasks_module_is_found_and_nothing_else_imported() -> None:
    found = registry.discover("app")
    assert {"app.core.tasks", "app.items.tasks"} <= set(found)
    assert all(name.endswith(".tasks") for name in found)
    assert registry.get("items.export") is not None
    assert registry.get("core.purge_idempotency_keys") is not None


def test_a_name_cannot_name_two_handlers() -> None:
    async def first(_job: JobContext) -> None:
        return None

    async def second(_job: JobContext) -> None:
        return None

    task("tests.registered_once")(first)
    task("tests.registered_once")(first)  # the same handler again (a re-import) is fine
    with pytest.raises(ValueError, match="registered twice"):
        task("tests.registered_once")(second)
