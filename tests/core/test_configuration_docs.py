"""docs/configuration.md documents every setting, and it and the README's short table give the
default the code really has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.config import DEFAULT_LOGURU_FORMAT, Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
# A table row: | `NAME` | default | what it does |
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|([^|]*)\|\s*$")
EMPTY = "empty"
DESCRIBED_BELOW = {"LOGURU_FORMAT": DEFAULT_LOGURU_FORMAT}


def _rows(page: Path = PAGE) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            name, default, meaning = (part.strip() for part in match.groups())
            assert name not in rows, f"{name} has two rows"
            rows[name] = (default, meaning)
    return rows


def test_every_setting_has_a_row_and_every_row_a_setting() -> None:
    documented = set(_rows())
    fields = set(Settings.model_fields)
    assert fields - documented == set(), "settings missing from docs/configuration.md"
    assert documented - fields == set(), "rows in docs/configuration.md that are no setting"


def test_every_row_says_what_the_setting_does() -> None:
    assert [name for name, (_, meaning) in _rows().items() if not meaning] == []


def test_the_readme_lists_the_seed_settings() -> None:
    assert set(_rows(README)) >= {"PORT", "SERVICE_NAME", "SERVICE_CODE", "STATUS", "X_TOKEN"}


@pytest.mark.parametrize(
    ("page", "name"),
    [(PAGE, name) for name in sorted(Settings.model_fields)]
    + [(README, name) for name in sorted(_rows(README))],
)
def test_documented_default_is_the_code_default(page: Path, name: str) -> None:
    """The default cell, given as the setting's value, yields the field's own default."""
    cell, _ = _rows(page)[name]
    if name in DESCRIBED_BELOW:
        assert cell == "a coloured line" or DESCRIBED_BELOW[name] in page.read_text(
            encoding="utf-8"
        )
        return
    if cell == EMPTY:
        text = ""
    else:
        literal = re.fullmatch(r"`([^`]*)`", cell)
        assert literal, f"{name}: write the default as `value` or {EMPTY!r}, not {cell!r}"
        text = literal.group(1)
    expected = Settings.model_fields[name].get_default(call_default_factory=True)
    # Validated as a value from the environment would be, without reading the environment.
    documented = Settings.model_validate({name: text})
    assert getattr(documented, name) == expected
