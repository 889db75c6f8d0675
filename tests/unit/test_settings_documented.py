"""docs/settings.md names every setting, with its true default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from cagnotte.config import Settings

SETTINGS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
ROW = re.compile(r"^\| `(CAGNOTTE_[A-Z0-9_]+)` \| `?(.*?)`? \|")


def documented_defaults() -> dict[str, str]:
    """Each variable of the page's table, with its default as written there."""
    rows = [ROW.match(line) for line in SETTINGS_PAGE.read_text().splitlines()]
    return {row.group(1): row.group(2) for row in rows if row}


def as_written(default: Any) -> str:
    """A default as the page writes it: `none`, `true`/`false`, JSON, or as it is."""
    if default is None or default is PydanticUndefined or default in ([], {}, ""):
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, dict | list):
        return json.dumps(default)
    return str(default)


def test_every_setting_is_in_the_table_and_nothing_else():
    fields = {f"CAGNOTTE_{name.upper()}" for name in Settings.model_fields}
    documented = set(documented_defaults())
    assert not fields - documented, f"add to docs/settings.md: {sorted(fields - documented)}"
    assert not documented - fields, f"no such setting: {sorted(documented - fields)}"


def test_each_default_in_the_table_is_the_setting_s_default():
    documented = documented_defaults()
    for name, field in Settings.model_fields.items():
        variable = f"CAGNOTTE_{name.upper()}"
        assert documented[variable] == as_written(field.get_default(call_default_factory=True)), (
            variable
        )


def test_the_readme_sends_readers_to_the_settings_page():
    readme = (SETTINGS_PAGE.parents[1] / "README.md").read_text()
    assert "(docs/settings.md)" in readme
