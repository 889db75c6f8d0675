"""The information notice a cashier gives at enrolment (CNIL: the Up2pay seed's
"informer votre client des conditions de traitement de ses données personnelles
et des conditions d'adhésion au programme").

A merchant writes its own notice — how personal data are processed, the
program's terms — in its settings (`PATCH /v1/merchants/{id}`). Every text is a
new version, numbered 1, 2, … per merchant, and kept for good
(`information_notices`): a membership records the version it was given and
when (`notice_given_at`, `notice_version`), and the version's text proves what
the customer was told. Setting the same text again makes no version.

A merchant that has set no text gives the platform's default notice, built from
its name (`default_notice_text`). It is recorded as a version too, the first
time it is given, so that what the first members heard stays provable when the
merchant later writes its own (which is then the next version).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select

from cagnotte.crm.tables import information_notices
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.tables import merchants

NOTICE_LENGTH_MIN = 20
NOTICE_LENGTH_MAX = 20_000
NOTICE_ORDER = Order("notices", (information_notices.c.version,), descending=True)


def default_notice_text(merchant_name: str) -> str:
    """The platform's notice for a merchant that wrote none: who processes what, why,
    for how long, and the member's rights (GDPR art. 13), in the merchant's name."""
    return (
        f"{merchant_name} keeps your phone number and the details you give (name, e-mail,"
        " birth date, address) with your purchases and rewards, to run its loyalty program:"
        " crediting and spending your rewards, and, only if you agree, sending you offers."
        f" They are kept while you are a member and are not sold. You may see, correct,"
        " export or erase them, and withdraw any consent, at any time on your customer page"
        f" or by asking {merchant_name}. Joining is free; the program's rewards follow its"
        f" rules as {merchant_name} publishes them, and may change or end with notice."
    )


def record_notice_text(
    connection: Connection, merchant_id: uuid.UUID, text: str, now: datetime
) -> int | None:
    """Make `text` the merchant's notice: its new version number (None: the same text
    as now, no version made). Call it with the merchant's row locked, so that two
    changes at once number their versions one after the other."""
    current = _latest(connection, merchant_id)
    if current is not None and not current["is_default"] and current["text"] == text:
        return None
    version = (current["version"] if current else 0) + 1
    connection.execute(
        insert(information_notices).values(
            merchant_id=merchant_id, version=version, text=text, is_default=False, created_at=now
        )
    )
    return version


def notice_to_give(connection: Connection, merchant_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The notice an enrolment gives now: the merchant's latest version, or its default
    one, recorded as version 1 the first time it is given."""
    current = _latest(connection, merchant_id)
    if current is not None:
        return current
    # The first enrolment of a merchant: take the merchant's row, as a change of the
    # text does, so that the default and the merchant's own text (or two first
    # enrolments) are numbered one after the other; then look again.
    named = select(merchants.c.name).where(merchants.c.id == merchant_id)
    name = connection.execute(lock_merchant(named, connection)).scalar_one()
    current = _latest(connection, merchant_id)
    if current is not None:
        return current
    current = {
        "merchant_id": merchant_id,
        "version": 1,
        "text": default_notice_text(name),
        "is_default": True,
        "created_at": now,
    }
    connection.execute(insert(information_notices).values(**current))
    return current


def lock_merchant(query: Select, connection: Connection) -> Select:
    """`query` of the merchant's row, locking it until the transaction ends (PostgreSQL; a
    SQLite write transaction is the lock). FOR NO KEY UPDATE: rows naming the merchant
    (memberships, checks) are still written meanwhile."""
    if connection.dialect.name != "postgresql":
        return query
    return query.with_for_update(key_share=True)


def notice_versions(
    connection: Connection, merchant_id: uuid.UUID, page: PageRequest = FIRST_PAGE
) -> Page[dict[str, Any]]:
    """The merchant's notices, newest first."""
    query = select(information_notices).where(information_notices.c.merchant_id == merchant_id)
    return fetch_page(connection, query, NOTICE_ORDER, page).map(dict)


def _latest(connection: Connection, merchant_id: uuid.UUID) -> dict[str, Any] | None:
    newest = (
        select(func.max(information_notices.c.version))
        .where(information_notices.c.merchant_id == merchant_id)
        .scalar_subquery()
    )
    row = (
        connection.execute(
            select(information_notices).where(
                information_notices.c.merchant_id == merchant_id,
                information_notices.c.version == newest,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
