"""Names as the directory searches them: without case or accents."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """`Éloïse Dvořák` → `eloise dvorak`: decomposed (NFKD), marks dropped, case-folded,
    spaces collapsed; the same on both databases (SQLite has no unaccent)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())
