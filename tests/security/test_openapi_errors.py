"""The published schema tells the truth about errors: clients (and the fuzzer) can rely on it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
EVERY_ROUTE = {"400", "413", "422", "429", "431", "500"}


def _operations(application: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    paths = application.openapi()["paths"]
    return [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]


def test_error_responses_are_documented_as_problem_json(application: FastAPI) -> None:
    errors = 0
    for path, method, operation in _operations(application):
        for status, response in operation["responses"].items():
            if status[0] not in "45" or "content" not in response:
                continue
            errors += 1
            content = response["content"]
            assert set(content) == {"application/problem+json"}, (path, method, status)
            assert content["application/problem+json"]["schema"] == PROBLEM_REF
    assert errors > 0


def test_every_operation_declares_what_the_middleware_can_answer(application: FastAPI) -> None:
    for path, method, operation in _operations(application):
        assert set(operation["responses"]) >= EVERY_ROUTE, (path, method)


def test_operations_needing_credentials_declare_401_and_403(application: FastAPI) -> None:
    secured = [
        (path, method, op) for path, method, op in _operations(application) if op.get("security")
    ]
    assert secured
    for path, method, operation in secured:
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
