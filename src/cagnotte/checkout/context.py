"""What a check reads of its merchant before anything else: one statement.

The merchant's time zone (its local day decides caps, time windows and tiers)
and the versions of the two things a check keeps in memory per merchant: its
compiled rules (programs/loyalty/admin.py) and its category tree
(catalogue/service.py). One primary-key read of `merchants` with two scalar
sub-selects, instead of three statements: a quote's reads are most of its time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select

from cagnotte.catalogue.tables import category_versions
from cagnotte.db.tables import merchants
from cagnotte.i18n import PLATFORM_LOCALE
from cagnotte.programs.loyalty.tables import loyalty_rule_versions


@dataclass(frozen=True, slots=True)
class CheckContext:
    time_zone: str
    rules_version: int
    categories_version: int


_MERCHANT = bindparam("merchant_id")

# Built once: executing one statement object again skips SQLAlchemy's building
# and cache-key work.
_CONTEXT = select(
    merchants.c.time_zone,
    func.coalesce(
        select(loyalty_rule_versions.c.version)
        .where(loyalty_rule_versions.c.merchant_id == merchants.c.id)
        .scalar_subquery(),
        0,
    ).label("rules_version"),
    func.coalesce(
        select(category_versions.c.version)
        .where(category_versions.c.merchant_id == merchants.c.id)
        .scalar_subquery(),
        0,
    ).label("categories_version"),
).where(merchants.c.id == _MERCHANT)


def check_context(connection: Connection, merchant_id: uuid.UUID) -> CheckContext:
    """The merchant's check context (the platform's time zone for no such merchant)."""
    row = connection.execute(_CONTEXT, {"merchant_id": merchant_id}).first()
    if row is None:
        return CheckContext(PLATFORM_LOCALE.time_zone, 0, 0)
    return CheckContext(row.time_zone, row.rules_version, row.categories_version)
