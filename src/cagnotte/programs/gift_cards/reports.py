"""Gift card reports: liability per program, activity per store and day, reseller settlement.

Figures come from the ledger (balances) and the operation log (what happened
when, where and through whom). Every report is a list of flat rows, so that
one export function writes it as CSV or XLSX.

Errors: forbidden, not_found, invalid_input.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import case, func, select

from cagnotte import errors
from cagnotte.db.engine import Database
from cagnotte.db.tables import account_balances
from cagnotte.programs.gift_cards.tables import (
    gift_card_operations,
    gift_card_programs,
    gift_card_resellers,
    gift_cards,
)
from cagnotte.security.principals import Principal
from cagnotte.spreadsheets import csv_file, xlsx_file

REPORT_DAYS_MAX = 366
EXPORT_FORMATS = ("csv", "xlsx")
LIABILITY_COLUMNS = (
    "program_id",
    "program_name",
    "asset",
    "cards_inactive",
    "cards_active",
    "cards_frozen",
    "cards_closed",
    "outstanding_minor",
)
ACTIVITY_COLUMNS = (
    "business_date",
    "store_id",
    "program_id",
    "asset",
    "operations",
    "loaded_minor",
    "spent_minor",
    "refunded_minor",
    "breakage_minor",
    "transferred_minor",
)
SETTLEMENT_COLUMNS = (
    "reseller_id",
    "reseller_name",
    "program_id",
    "asset",
    "activations",
    "loads",
    "activated_minor",
    "loaded_minor",
    "total_minor",
)
_SIGNED_KINDS = {
    "loaded_minor": ("activation", "load"),
    "spent_minor": ("spend", "capture"),
    "refunded_minor": ("refund",),
    "breakage_minor": ("expiry",),
    "transferred_minor": ("transfer_out",),
}


class GiftCardReports:
    def __init__(self, database: Database) -> None:
        self.database = database

    def liability(self, caller: Principal) -> list[dict[str, Any]]:
        """What each program owes its card holders now: the sum of its cards' balances."""
        caller.require("manager")
        balance = func.coalesce(
            func.sum(account_balances.c.credits_posted - account_balances.c.debits_posted), 0
        )
        with self.database.read() as connection:
            programs = connection.execute(
                select(
                    gift_card_programs.c.id,
                    gift_card_programs.c.name,
                    gift_card_programs.c.asset_code,
                )
                .where(gift_card_programs.c.merchant_id == caller.merchant_id)
                .order_by(gift_card_programs.c.created_at)
            ).all()
            states = connection.execute(
                select(gift_cards.c.program_id, gift_cards.c.state, func.count())
                .where(gift_cards.c.merchant_id == caller.merchant_id)
                .group_by(gift_cards.c.program_id, gift_cards.c.state)
            ).all()
            outstanding = dict(
                connection.execute(
                    select(gift_cards.c.program_id, balance)
                    .join(
                        account_balances,
                        (account_balances.c.merchant_id == gift_cards.c.merchant_id)
                        & (account_balances.c.account_id == gift_cards.c.account_id),
                    )
                    .where(gift_cards.c.merchant_id == caller.merchant_id)
                    .group_by(gift_cards.c.program_id)
                ).all()
            )
        counts: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        for program_id, state, count in states:
            counts[program_id][state] = int(count)
        return [
            {
                "program_id": str(program_id),
                "program_name": name,
                "asset": asset,
                **{
                    f"cards_{state}": counts[program_id].get(state, 0)
                    for state in ("inactive", "active", "frozen", "closed")
                },
                "outstanding_minor": int(outstanding.get(program_id, 0)),
            }
            for program_id, name, asset in programs
        ]

    def activity(
        self,
        caller: Principal,
        *,
        date_from: date,
        date_to: date,
        program_id: uuid.UUID | None = None,
        store_id: uuid.UUID | None = None,
    ) -> list[dict[str, Any]]:
        """Loads, spends, refunds, breakage and transfers per day, store and program."""
        caller.require("manager")
        _check_period(date_from, date_to)
        operations = gift_card_operations.c
        sums = [
            func.coalesce(
                func.sum(case((operations.kind.in_(kinds), operations.amount_minor), else_=0)), 0
            ).label(name)
            for name, kinds in _SIGNED_KINDS.items()
        ]
        query = (
            select(
                operations.business_date,
                operations.store_id,
                operations.program_id,
                gift_card_programs.c.asset_code,
                func.count().label("operations"),
                *sums,
            )
            .join(
                gift_card_programs,
                (gift_card_programs.c.merchant_id == operations.merchant_id)
                & (gift_card_programs.c.id == operations.program_id),
            )
            .where(
                operations.merchant_id == caller.merchant_id,
                operations.business_date >= date_from,
                operations.business_date <= date_to,
            )
            .group_by(
                operations.business_date,
                operations.store_id,
                operations.program_id,
                gift_card_programs.c.asset_code,
            )
            .order_by(operations.business_date, operations.program_id, operations.store_id)
        )
        if program_id is not None:
            query = query.where(operations.program_id == program_id)
        if store_id is not None:
            query = query.where(operations.store_id == store_id)
        with self.database.read() as connection:
            rows = connection.execute(query).all()
        return [
            {
                "business_date": row.business_date.isoformat(),
                "store_id": str(row.store_id) if row.store_id else "",
                "program_id": str(row.program_id),
                "asset": row.asset_code,
                "operations": int(row.operations),
                **{name: int(getattr(row, name)) for name in _SIGNED_KINDS},
            }
            for row in rows
        ]

    def reseller_settlement(
        self, caller: Principal, *, reseller_id: uuid.UUID, date_from: date, date_to: date
    ) -> list[dict[str, Any]]:
        """What a reseller activated and loaded in a period: what it owes the merchant."""
        _check_period(date_from, date_to)
        operations = gift_card_operations.c
        with self.database.read() as connection:
            reseller = (
                connection.execute(
                    select(gift_card_resellers).where(
                        gift_card_resellers.c.merchant_id == caller.merchant_id,
                        gift_card_resellers.c.id == reseller_id,
                    )
                )
                .mappings()
                .first()
            )
            if reseller is None or (
                caller.role == "reseller" and reseller["api_key_id"] != caller.key_id
            ):
                raise errors.NotFound("No such reseller.")
            if caller.role != "reseller":
                caller.require("manager")
            rows = connection.execute(
                select(
                    operations.program_id,
                    gift_card_programs.c.asset_code,
                    func.sum(case((operations.kind == "activation", 1), else_=0)),
                    func.sum(case((operations.kind == "load", 1), else_=0)),
                    func.coalesce(
                        func.sum(
                            case(
                                (operations.kind == "activation", operations.amount_minor), else_=0
                            )
                        ),
                        0,
                    ),
                    func.coalesce(
                        func.sum(
                            case((operations.kind == "load", operations.amount_minor), else_=0)
                        ),
                        0,
                    ),
                )
                .join(
                    gift_card_programs,
                    (gift_card_programs.c.merchant_id == operations.merchant_id)
                    & (gift_card_programs.c.id == operations.program_id),
                )
                .where(
                    operations.merchant_id == caller.merchant_id,
                    operations.reseller_id == reseller_id,
                    operations.business_date >= date_from,
                    operations.business_date <= date_to,
                )
                .group_by(operations.program_id, gift_card_programs.c.asset_code)
                .order_by(operations.program_id)
            ).all()
        return [
            {
                "reseller_id": str(reseller_id),
                "reseller_name": reseller["name"],
                "program_id": str(program_id),
                "asset": asset,
                "activations": int(activations),
                "loads": int(loads),
                "activated_minor": int(activated),
                "loaded_minor": int(loaded),
                "total_minor": int(activated) + int(loaded),
            }
            for program_id, asset, activations, loads, activated, loaded in rows
        ]


def _check_period(date_from: date, date_to: date) -> None:
    if date_to < date_from or (date_to - date_from).days > REPORT_DAYS_MAX:
        raise errors.InvalidInput(f"A period runs forward over at most {REPORT_DAYS_MAX} days.")


def export_rows(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    file_format: str,
    sheet_title: str = "report",
) -> bytes:
    """The rows as a CSV (UTF-8) or an XLSX workbook, with a header line; names that a
    spreadsheet would read as formulas are written as plain text (`spreadsheets`)."""
    assert file_format in EXPORT_FORMATS, file_format
    cells = [[row.get(column) for column in columns] for row in rows]
    if file_format == "csv":
        return csv_file(columns, cells, lineterminator="\n")
    return xlsx_file(sheet_title, columns, cells)
