"""docs/limits.md keeps up with aioweb/config.py.

Every Config field has a row in the settings table that starts with its
name in backticks and shows its current default in backticks, so a default
changed in the code and not in the docs (or a new field left undocumented)
fails here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from aioweb import Config

LIMITS = Path(__file__).resolve().parents[2] / "docs" / "limits.md"
FIELDS = dataclasses.fields(Config)


def _row(name: str) -> str | None:
    for line in LIMITS.read_text(encoding="utf-8").splitlines():
        if re.match(rf"\|\s*`{re.escape(name)}`\s*\|", line):
            return line
    return None


@pytest.mark.parametrize("field", FIELDS, ids=[field.name for field in FIELDS])
def test_every_config_field_is_documented_with_its_default(field: dataclasses.Field) -> None:
    """The field's row exists and shows ``default`` as the code has it."""
    row = _row(field.name)
    assert row is not None, f"docs/limits.md has no row for Config.{field.name}"
    default = field.default
    assert f"`{default}`" in row, f"the row for {field.name} does not show `{default}`: {row}"


def test_the_attack_table_names_only_real_settings() -> None:
    """Each ``Config.x`` the docs mention is a real field (no stale names)."""
    names = {field.name for field in FIELDS}
    mentioned = set(re.findall(r"Config\.([a-z_]+)", LIMITS.read_text(encoding="utf-8")))
    assert mentioned <= names | {"timer_tick"}, mentioned - names
