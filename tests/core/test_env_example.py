"""`.env.example` documents every setting, with the default the code really has."""

from __future__ import annotations

import re
from pathlib import Path

from app.core.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _documented() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
        if match:
            pairs[match.group(1)] = line
    return pairs


def test_every_setting_is_documented() -> None:
    assert set(Settings.model_fields) == set(_documented())


def test_the_example_file_is_a_valid_configuration(tmp_path: Path) -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)
    defaults = Settings(_env_file=None)
    assert settings.model_dump() == defaults.model_dump()
