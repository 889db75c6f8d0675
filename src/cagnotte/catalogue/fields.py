"""What a valid SKU, product name, category name and unit price are.

One place for the rules, so that a product created through the API and one
imported from a file are held to the same ones; the tables check the lengths
and the price range a second time.
"""

from __future__ import annotations

import unicodedata

SKU_LENGTH_MAX = 64
PRODUCT_NAME_LENGTH_MAX = 200
CATEGORY_NAME_LENGTH_MAX = 100
# Case folding may lengthen a name (ß → ss, ΐ → three characters): its key needs room.
NAME_KEY_LENGTH_MAX = 3 * CATEGORY_NAME_LENGTH_MAX
SEARCH_TEXT_LENGTH_MAX = 3 * (SKU_LENGTH_MAX + 1 + PRODUCT_NAME_LENGTH_MAX)
# A root category is at depth 1; "Drinks/Hot drinks/Tea" ends at depth 3.
CATEGORY_DEPTH_MAX = 6
CATEGORIES_PER_MERCHANT_MAX = 2_000
# 10 000 000 000.00 at scale 2: quantity × price of any check line stays far from
# the 64-bit counters of the ledger.
UNIT_PRICE_MINOR_MAX = 10**12
# Separates the names of a category path in an import ("Drinks/Hot drinks"), so
# that no category name may hold it.
PATH_SEPARATOR = "/"


def clean(text: str) -> str:
    """The text as stored and compared: NFC-normalised, without surrounding white space."""
    return unicodedata.normalize("NFC", text).strip()


def name_key(name: str) -> str:
    """What tells two category names apart: 'Drinks' and 'drinks' are the same name."""
    return clean(name).casefold()


def search_text(sku: str, name: str) -> str:
    """What a text search of products looks in, case-folded the same way on both databases."""
    return f"{sku} {name}".casefold()


def sku_problem(sku: str) -> str | None:
    """Why this (cleaned) text cannot be a SKU, or None."""
    return _text_problem(sku, "a SKU", SKU_LENGTH_MAX)


def product_name_problem(name: str) -> str | None:
    return _text_problem(name, "a product name", PRODUCT_NAME_LENGTH_MAX)


def category_name_problem(name: str) -> str | None:
    problem = _text_problem(name, "a category name", CATEGORY_NAME_LENGTH_MAX)
    if problem is None and PATH_SEPARATOR in name:
        problem = f"a category name cannot hold {PATH_SEPARATOR!r} (it separates a path)"
    return problem


def unit_price_problem(unit_price_minor: int) -> str | None:
    if not 0 <= unit_price_minor <= UNIT_PRICE_MINOR_MAX:
        return f"a unit price is between 0 and {UNIT_PRICE_MINOR_MAX} minor units"
    return None


def _text_problem(text: str, what: str, length_max: int) -> str | None:
    if not text:
        return f"{what} cannot be empty"
    if len(text) > length_max:
        return f"{what} has at most {length_max} characters"
    if any(unicodedata.category(character) == "Cc" for character in text):
        return f"{what} cannot hold control characters (tabs, line breaks …)"
    return None
