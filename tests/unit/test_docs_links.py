"""Every relative link of the README and docs/ names a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A Markdown link's target, and a path written as code that leaves the repository.
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"`(\.\./[^`]*)`")


def relative_links(text: str) -> list[str]:
    targets = [target.split("#", 1)[0] for target in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves_inside_the_repository(page: Path):
    text = page.read_text()
    for target in relative_links(text):
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} names no file"
    assert not OUTSIDE.findall(text), f"{page.name} names paths outside the repository"


def test_the_pages_link_to_each_other():
    assert relative_links((ROOT / "README.md").read_text()), "the README links to docs/"
