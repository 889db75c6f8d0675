"""The queries on the bonus tables (and the few facts they need from others).

The attempts' log has its own in `lockouts.py`.

Functions take the connection of the caller's transaction (or its unit of
work) and return typed rows (`rows.py`). Nothing here decides anything: a
missing row is None and the use case says what that means. Rows are locked in
the global order of `db.unit_of_work.LOCK_ORDER`: a campaign before its codes,
codes before bank payments, bank payments before payouts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte import errors
from cagnotte.db import lookups
from cagnotte.db.lookups import LookupKind
from cagnotte.db.pages import Order, Page, PageRequest, fetch_page
from cagnotte.db.tables import assets, customers, memberships, merchants
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.programs.bonus_codes.rows import (
    BankPayment,
    BonusCode,
    Campaign,
    MaskedCode,
    Member,
    Payout,
    row_of,
)
from cagnotte.programs.bonus_codes.tables import (
    bank_payments,
    bonus_campaigns,
    bonus_code_exports,
    bonus_codes,
    bonus_payouts,
)

# The primary key a code drawn twice (in two campaigns) runs into.
CODE_HASH_CONSTRAINT = "pk_bonus_codes"
# Hashes per IN list: well under SQLite's limit of bound parameters.
_DIGESTS_PER_QUERY = 5_000


def _is_postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def dialect_insert(connection: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return pg_dialect.insert if _is_postgresql(connection) else sqlite_dialect.insert


def _locked(connection: Connection, query: Select) -> Select:
    # SQLite has one writer at a time: its write transaction is the lock.
    return query.with_for_update() if _is_postgresql(connection) else query


# Facts from other tables -------------------------------------------------------


def is_currency(connection: Connection, asset_code: str) -> bool:
    """Whether the asset exists and is the platform's (a currency), not a merchant's unit."""
    row = connection.execute(
        select(assets.c.merchant_id).where(assets.c.code == asset_code)
    ).first()
    return row is not None and row.merchant_id is None


def head_office_email(connection: Connection, merchant_id: uuid.UUID) -> str | None:
    return connection.execute(
        select(merchants.c.head_office_email).where(merchants.c.id == merchant_id)
    ).scalar_one()


def merchant_exists(connection: Connection, merchant_id: uuid.UUID) -> bool:
    return (
        connection.execute(select(merchants.c.id).where(merchants.c.id == merchant_id)).first()
        is not None
    )


def customer_status(connection: Connection, customer_id: uuid.UUID) -> str | None:
    """The status of the customer's platform account (None: no such customer)."""
    return connection.execute(
        select(customers.c.status).where(customers.c.id == customer_id)
    ).scalar()


def membership_of(
    connection: Connection, merchant_id: uuid.UUID, customer_id: uuid.UUID
) -> Member | None:
    """The customer's membership at this merchant, if they have one."""
    row = connection.execute(
        select(memberships.c.id, memberships.c.status).where(
            memberships.c.merchant_id == merchant_id, memberships.c.customer_id == customer_id
        )
    ).first()
    return None if row is None else Member(id=row.id, status=row.status)


# Campaigns -----------------------------------------------------------------------


def insert_campaign(connection: Connection, values: dict[str, Any]) -> bool:
    """Store a new campaign; False if its variable symbol is taken (draw another).

    The symbol is unique platform-wide (a bank payment quotes it alone), so it is
    claimed in platform_lookups first; the campaign keeps it unique per merchant.
    """
    if not lookups.claim(
        connection,
        LookupKind.VARIABLE_SYMBOL,
        values["variable_symbol"],
        values["merchant_id"],
        values["id"],
        values["created_at"],
    ):
        return False
    connection.execute(insert(bonus_campaigns).values(**values))
    return True


def campaign(
    connection: Connection, merchant_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign | None:
    """The merchant's campaign; another merchant's is None, as a missing one."""
    row = (
        connection.execute(
            select(bonus_campaigns).where(
                bonus_campaigns.c.merchant_id == merchant_id, bonus_campaigns.c.id == campaign_id
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else row_of(Campaign, row)


def campaign_of_any_merchant(connection: Connection, campaign_id: uuid.UUID) -> Campaign | None:
    """A campaign by id alone: for the operator, who sees every merchant's."""
    row = (
        connection.execute(select(bonus_campaigns).where(bonus_campaigns.c.id == campaign_id))
        .mappings()
        .first()
    )
    return None if row is None else row_of(Campaign, row)


def campaign_by_symbol(
    connection: Connection, variable_symbol: str, asset_code: str
) -> Campaign | None:
    """The campaign a bank payment's reference names (banks drop leading zeros)."""
    found = lookups.find(
        connection, LookupKind.VARIABLE_SYMBOL, variable_symbol.strip().lstrip("0")
    )
    if found is None:
        return None
    row = (
        connection.execute(
            select(bonus_campaigns).where(
                bonus_campaigns.c.merchant_id == found[0],
                bonus_campaigns.c.id == found[1],
                bonus_campaigns.c.asset_code == asset_code,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else row_of(Campaign, row)


def lock_campaign(unit: UnitOfWork, campaign_id: uuid.UUID) -> Campaign:
    """The unit's merchant's campaign, locked until the unit ends; else campaign_not_found."""
    rows = unit.lock_many(bonus_campaigns, [campaign_id])
    if not rows:
        raise errors.CampaignNotFound()
    return row_of(Campaign, rows[0])


def campaigns_of(
    connection: Connection, merchant_id: uuid.UUID, page: PageRequest
) -> Page[Campaign]:
    """A page of the merchant's campaigns, newest first."""
    query = select(bonus_campaigns).where(bonus_campaigns.c.merchant_id == merchant_id)
    order = Order(
        "bonus_campaigns", (bonus_campaigns.c.created_at, bonus_campaigns.c.id), descending=True
    )
    return fetch_page(connection, query, order, page).map(partial(row_of, Campaign))


def due_campaigns(connection: Connection, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(merchant, campaign) of the campaigns stopped, or open past their validity."""
    return [
        (row.merchant_id, row.id)
        for row in connection.execute(
            select(bonus_campaigns.c.merchant_id, bonus_campaigns.c.id).where(
                (bonus_campaigns.c.status == "stopped")
                | (
                    bonus_campaigns.c.status.in_(("active", "awaiting_funding"))
                    & (bonus_campaigns.c.valid_to <= now)
                )
            )
        )
    ]


def code_counts(connection: Connection, campaign: Campaign) -> tuple[int, int]:
    """How many codes the campaign has, and how many of them were redeemed."""
    issued, redeemed = connection.execute(
        select(func.count(), func.count(bonus_codes.c.redeemed_at)).where(
            bonus_codes.c.merchant_id == campaign.merchant_id,
            bonus_codes.c.campaign_id == campaign.id,
        )
    ).one()
    return int(issued), int(redeemed)


# Codes -------------------------------------------------------------------------


def store_codes(
    connection: Connection,
    campaign: Campaign,
    codes: Sequence[tuple[bytes, str]],
    key_id: str,
) -> bool:
    """Store the codes (hash under the key `key_id`, last characters); False if one
    exists already.

    On PostgreSQL COPY, the fast way to write many rows; a collision fails the
    COPY, so call it in a savepoint. On SQLite a collision is skipped, and
    counted.
    """
    if _is_postgresql(connection):
        return _copy_codes(connection, campaign, codes, key_id)
    connection.execute(
        sqlite_dialect.insert(bonus_codes).on_conflict_do_nothing(),
        [
            {
                "code_hash": digest,
                "code_key_id": key_id,
                "merchant_id": campaign.merchant_id,
                "campaign_id": campaign.id,
                "last_characters": last,
            }
            for digest, last in codes
        ],
    )
    stored, _redeemed = code_counts(connection, campaign)
    return stored == len(codes)


def _copy_codes(
    connection: Connection, campaign: Campaign, codes: Sequence[tuple[bytes, str]], key_id: str
) -> bool:
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(
            "COPY bonus_codes (code_hash, code_key_id, merchant_id, campaign_id, last_characters)"
            " FROM STDIN"
        ) as copy:
            for digest, last in codes:
                copy.write_row((digest, key_id, campaign.merchant_id, campaign.id, last))
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name != CODE_HASH_CONSTRAINT:
            raise
        return False
    finally:
        cursor.close()
    return True


def any_code_hash(connection: Connection, digests: Sequence[bytes]) -> bool:
    """Whether a code, of any campaign, has one of these hashes."""
    for start in range(0, len(digests), _DIGESTS_PER_QUERY):
        chunk = digests[start : start + _DIGESTS_PER_QUERY]
        found = connection.execute(
            select(bonus_codes.c.code_hash).where(bonus_codes.c.code_hash.in_(chunk)).limit(1)
        ).first()
        if found is not None:
            return True
    return False


def code(connection: Connection, digests: Sequence[bytes]) -> BonusCode | None:
    """The code with one of these keyed hashes (one per key), whichever merchant's."""
    row = (
        connection.execute(select(bonus_codes).where(bonus_codes.c.code_hash.in_(digests)))
        .mappings()
        .first()
    )
    return None if row is None else row_of(BonusCode, row)


def code_key_counts(connection: Connection) -> dict[str | None, int]:
    """Codes that may still be redeemed (unused, of an active campaign), per key id."""
    rows = connection.execute(
        select(bonus_codes.c.code_key_id, func.count())
        .join(
            bonus_campaigns,
            (bonus_campaigns.c.merchant_id == bonus_codes.c.merchant_id)
            & (bonus_campaigns.c.id == bonus_codes.c.campaign_id),
        )
        .where(bonus_codes.c.redeemed_at.is_(None), bonus_campaigns.c.status == "active")
        .group_by(bonus_codes.c.code_key_id)
    ).all()
    return {identity: int(count) for identity, count in rows}


def lock_code(unit: UnitOfWork, digest: bytes) -> BonusCode | None:
    """The unit's merchant's code, locked: a second redemption waits, then finds it used.

    Codes are keyed by their hash, not by id, so not through `unit.lock`;
    LOCK_ORDER has them after campaigns, which a redemption reads unlocked.
    """
    row = (
        unit.connection.execute(
            _locked(
                unit.connection,
                select(bonus_codes).where(
                    bonus_codes.c.code_hash == digest, bonus_codes.c.merchant_id == unit.merchant_id
                ),
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else row_of(BonusCode, row)


def masked_codes(connection: Connection, campaign: Campaign, page: PageRequest) -> Page[MaskedCode]:
    """A page of the campaign's codes in the order of their hashes (unique, and telling
    nothing of when a code was made)."""
    query = select(
        bonus_codes.c.code_hash, bonus_codes.c.last_characters, bonus_codes.c.redeemed_at
    ).where(
        bonus_codes.c.merchant_id == campaign.merchant_id,
        bonus_codes.c.campaign_id == campaign.id,
    )
    order = Order("bonus_codes", (bonus_codes.c.code_hash,))
    return fetch_page(connection, query, order, page).map(
        lambda row: MaskedCode(
            last_characters=row["last_characters"], redeemed_at=row["redeemed_at"]
        )
    )


# The plain codes until they are downloaded --------------------------------------


def _export_of(campaign: Campaign) -> Any:
    return (bonus_code_exports.c.merchant_id == campaign.merchant_id) & (
        bonus_code_exports.c.campaign_id == campaign.id
    )


def keep_plain_codes(
    connection: Connection, campaign: Campaign, plain: Sequence[str], now: datetime
) -> None:
    """Keep a new campaign's plain codes for its merchant's download."""
    connection.execute(
        insert(bonus_code_exports).values(
            merchant_id=campaign.merchant_id,
            campaign_id=campaign.id,
            plain_codes="\n".join(plain),
            created_at=now,
        )
    )


def plain_codes_available(connection: Connection, campaign: Campaign) -> bool:
    plain = connection.execute(
        select(bonus_code_exports.c.plain_codes).where(_export_of(campaign))
    ).first()
    return plain is not None and plain.plain_codes is not None


def plain_codes(connection: Connection, campaign: Campaign) -> list[str] | None:
    """The plain codes as kept (for the mail), or None once they are wiped."""
    row = connection.execute(
        select(bonus_code_exports.c.plain_codes).where(_export_of(campaign))
    ).first()
    return None if row is None or row.plain_codes is None else row.plain_codes.split("\n")


def both_files_downloaded(connection: Connection, campaign: Campaign) -> bool:
    row = connection.execute(
        select(
            bonus_code_exports.c.csv_downloaded_at, bonus_code_exports.c.xlsx_downloaded_at
        ).where(_export_of(campaign))
    ).first()
    return row is not None and None not in (row.csv_downloaded_at, row.xlsx_downloaded_at)


def take_plain_codes(
    connection: Connection, campaign: Campaign, file_format: str, now: datetime
) -> list[str] | None:
    """The plain codes, marked as downloaded in this format; None if they were already.

    The conditional update is what makes each format downloadable once.
    """
    column = bonus_code_exports.c[f"{file_format}_downloaded_at"]
    taken = connection.execute(
        update(bonus_code_exports)
        .where(
            _export_of(campaign), column.is_(None), bonus_code_exports.c.plain_codes.is_not(None)
        )
        .values({column: now})
        .returning(bonus_code_exports.c.plain_codes)
    ).first()
    return None if taken is None else taken.plain_codes.split("\n")


def wipe_downloaded_plain_codes(connection: Connection, campaign: Campaign, now: datetime) -> None:
    """Both formats fetched: nothing needs the plain codes any more."""
    connection.execute(
        update(bonus_code_exports)
        .where(
            _export_of(campaign),
            bonus_code_exports.c.csv_downloaded_at.is_not(None),
            bonus_code_exports.c.xlsx_downloaded_at.is_not(None),
        )
        .values(plain_codes=None, wiped_at=now)
    )


def wipe_plain_codes_of(connection: Connection, campaign: Campaign, now: datetime) -> None:
    connection.execute(
        update(bonus_code_exports)
        .where(_export_of(campaign), bonus_code_exports.c.plain_codes.is_not(None))
        .values(plain_codes=None, wiped_at=now)
    )


def wipe_plain_codes_made_before(connection: Connection, moment: datetime, now: datetime) -> int:
    """Wipe every campaign's plain codes made before `moment`; how many lists."""
    return connection.execute(
        update(bonus_code_exports)
        .where(
            bonus_code_exports.c.plain_codes.is_not(None),
            bonus_code_exports.c.created_at <= moment,
        )
        .values(plain_codes=None, wiped_at=now)
    ).rowcount


# Bank payments -----------------------------------------------------------------


def insert_bank_payment(connection: Connection, payment: BankPayment) -> None:
    # The platform's own row (no merchant until matched or assigned): not a plan's
    # RowInsert, which writes the unit's merchant.
    connection.execute(
        insert(bank_payments).values(
            {field: getattr(payment, field) for field in BankPayment.__dataclass_fields__}
        )
    )


def bank_payment(connection: Connection, payment_id: uuid.UUID) -> BankPayment | None:
    row = (
        connection.execute(select(bank_payments).where(bank_payments.c.id == payment_id))
        .mappings()
        .first()
    )
    return None if row is None else row_of(BankPayment, row)


def lock_bank_payment(unit: UnitOfWork, payment_id: uuid.UUID) -> BankPayment | None:
    """The payment, locked (bank payments are the platform's: by id alone)."""
    row = (
        unit.connection.execute(
            _locked(unit.connection, select(bank_payments).where(bank_payments.c.id == payment_id))
        )
        .mappings()
        .first()
    )
    return None if row is None else row_of(BankPayment, row)


def assign_bank_payment(
    connection: Connection,
    payment_id: uuid.UUID,
    *,
    merchant_id: uuid.UUID,
    campaign_id: uuid.UUID | None,
    to_campaign_minor: int,
    to_business_minor: int,
) -> None:
    connection.execute(
        update(bank_payments)
        .where(bank_payments.c.id == payment_id)
        .values(
            status="assigned",
            merchant_id=merchant_id,
            campaign_id=campaign_id,
            to_campaign_minor=to_campaign_minor,
            to_business_minor=to_business_minor,
        )
    )


def bank_payments_listed(
    connection: Connection, status: str | None, page: PageRequest
) -> Page[BankPayment]:
    """A page of the payments received, newest first."""
    query = select(bank_payments)
    if status:
        query = query.where(bank_payments.c.status == status)
    order = Order(
        "bank_payments", (bank_payments.c.created_at, bank_payments.c.id), descending=True
    )
    return fetch_page(connection, query, order, page).map(partial(row_of, BankPayment))


# Payouts ---------------------------------------------------------------------------


def payout_of_any_merchant(connection: Connection, payout_id: uuid.UUID) -> Payout | None:
    row = (
        connection.execute(select(bonus_payouts).where(bonus_payouts.c.id == payout_id))
        .mappings()
        .first()
    )
    return None if row is None else row_of(Payout, row)


def lock_payout(unit: UnitOfWork, payout_id: uuid.UUID) -> Payout | None:
    rows = unit.lock_many(bonus_payouts, [payout_id])
    return row_of(Payout, rows[0]) if rows else None


def payouts_listed(
    connection: Connection, merchant_id: uuid.UUID | None, status: str | None, page: PageRequest
) -> Page[Payout]:
    """A page of the payouts, of one merchant or (None) of all, newest first."""
    query = select(bonus_payouts)
    if merchant_id is not None:
        query = query.where(bonus_payouts.c.merchant_id == merchant_id)
    if status:
        query = query.where(bonus_payouts.c.status == status)
    order = Order(
        "bonus_payouts", (bonus_payouts.c.created_at, bonus_payouts.c.id), descending=True
    )
    return fetch_page(connection, query, order, page).map(partial(row_of, Payout))
