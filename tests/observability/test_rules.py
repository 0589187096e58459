"""The alert rules stay tested and explained: every alert has a unit test where it fires and
one where it stays quiet, and a runbook section in docs/observability.md; promtool checks and
runs them (here when it is installed; always in .ci/observability.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DOCS = ROOT / "docs" / "observability.md"


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _cases() -> list[dict[str, Any]]:
    tests = yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"]
    return [case for test in tests for case in test["alert_rule_test"]]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("alert", _alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_fires_and_stays_quiet_in_a_unit_test(alert: dict[str, Any]) -> None:
    cases = [case for case in _cases() if case["alertname"] == alert["alert"]]
    assert any(case.get("exp_alerts") for case in cases), "no case where it fires"
    assert any(not case.get("exp_alerts") for case in cases), "no case where it stays quiet"


@pytest.mark.parametrize("alert", _alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_severity_and_a_runbook_section(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"page", "ticket"}
    page, _, anchor = alert["annotations"]["runbook"].partition("#")
    assert page == "docs/observability.md"
    headings = re.findall(r"^#+ (.+)$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    sections = {_anchor(heading): heading for heading in headings}
    assert anchor in sections, f"no section of docs/observability.md has the anchor {anchor}"
    assert alert["alert"] in sections[anchor]


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed here")
def test_promtool_checks_and_runs_the_rule_tests() -> None:
    for argv in (["check", "rules", str(RULES)], ["test", "rules", str(TESTS)]):
        result = subprocess.run(  # noqa: S603 (promtool, our files)
            [str(PROMTOOL), *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
