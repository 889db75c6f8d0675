"""Bonus code campaigns: request, funding, codes, redemption, lockout, settlement.

Accounts:
- the campaign's `campaign_escrow` (merchant ledger, owner the campaign): holds
  the funds from funding until they are credited to customers or leave at
  settlement; never below zero;
- the merchant's `business` account (merchant ledger): the merchant's money at
  the platform, never below zero;
- the platform's `bank` (what is in the platform's bank account: debited by
  incoming bank payments, credited by payouts), `suspense` (payments whose
  reference matched nothing) and `payouts_pending` (rest owed to a bank
  account until the operator records it paid);
- the customer's platform `wallet` (platform ledger, owner the customer).

Errors: forbidden, invalid_input, invalid_bank_account, bonus_value_too_high,
asset_not_found, campaign_not_found, campaign_not_awaiting_funding,
campaign_not_active, insufficient_funds, codes_already_downloaded,
customer_blocked, locked_out, too_many_attempts, captcha_invalid, code_invalid,
code_not_valid_now, bank_payment_not_found, bank_payment_already_assigned,
payout_not_found, payout_already_paid, idempotency_key_reused.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.tables import PLATFORM_MERCHANT_ID, assets, customers, merchants
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.ledger import AccountSpec, Ledger, Transfer
from cagnotte.ledger.model import Account
from cagnotte.mail import Mailer, compose
from cagnotte.programs.bonus_codes.bank import new_variable_symbol, normalise_bank_account
from cagnotte.programs.bonus_codes.codes import (
    LAST_CHARACTERS_SHOWN,
    code_hash,
    new_codes,
    normalise_code,
)
from cagnotte.programs.bonus_codes.tables import (
    bank_payments,
    bonus_attempts,
    bonus_campaigns,
    bonus_code_exports,
    bonus_codes,
    bonus_lockouts,
    bonus_payouts,
)
from cagnotte.security.captcha import CaptchaService
from cagnotte.security.platform_keys import platform_key
from cagnotte.security.principals import Principal

CODES_PER_CAMPAIGN_MAX = 1_000_000
WRONG_CODES_BEFORE_LOCK = 5
LOCKOUT_DURATION = timedelta(hours=24)
# Wrong codes from one client address (any customer) before that address must wait.
WRONG_CODES_PER_ADDRESS_MAX = 20
ADDRESS_WINDOW = timedelta(hours=1)
# Plain codes are wiped this long after generation even if never downloaded.
PLAIN_CODES_KEPT = timedelta(days=7)
DEFAULT_BONUS_VALUE_MAX_MINOR = {"CZK": 500_000, "EUR": 20_000}
PLATFORM_BANK_ACCOUNT = "72887288/0300"


@dataclass(frozen=True, slots=True)
class Redemption:
    """A code credited to a customer's wallet."""

    campaign_name: str
    asset_code: str
    amount_minor: int
    wallet_account_id: uuid.UUID
    wallet_balance_minor: int
    transfer_id: uuid.UUID


class BonusCodeService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        mailer: Mailer,
        captchas: CaptchaService,
        *,
        mail_from: str,
        bonus_value_max_minor: dict[str, int] | None = None,
        platform_bank_account: str = PLATFORM_BANK_ACCOUNT,
    ) -> None:
        self.database = database
        self.clock = clock
        self.ledger = ledger
        self.mailer = mailer
        self.captchas = captchas
        self.mail_from = mail_from
        self.bonus_value_max_minor = bonus_value_max_minor or DEFAULT_BONUS_VALUE_MAX_MINOR
        self.platform_bank_account = platform_bank_account

    # Accounts ------------------------------------------------------------------

    def _escrow_spec(self, campaign_id: uuid.UUID, asset_code: str) -> AccountSpec:
        return AccountSpec(
            asset_code=asset_code, owner_type="campaign", owner_id=campaign_id,
            purpose="campaign_escrow", debits_must_not_exceed_credits=True,
        )

    def business_account(
        self, merchant_id: uuid.UUID, asset_code: str, connection: Connection | None = None
    ) -> Account:
        return self.ledger.open_account(
            merchant_id,
            AccountSpec(
                asset_code=asset_code, owner_type="merchant", owner_id=merchant_id,
                purpose="business", debits_must_not_exceed_credits=True,
            ),
            connection,
        )

    def _platform_account(
        self, purpose: str, asset_code: str, connection: Connection | None = None
    ) -> Account:
        return self.ledger.open_account(
            PLATFORM_MERCHANT_ID,
            AccountSpec(
                asset_code=asset_code, owner_type="platform", owner_id=PLATFORM_MERCHANT_ID,
                purpose=purpose, debits_must_not_exceed_credits=purpose != "bank",
            ),
            connection,
        )

    def customer_wallet(
        self, customer_id: uuid.UUID, asset_code: str, connection: Connection | None = None
    ) -> Account:
        """The customer's platform wallet, which bonus codes credit."""
        return self.ledger.open_account(
            PLATFORM_MERCHANT_ID,
            AccountSpec(
                asset_code=asset_code, owner_type="customer", owner_id=customer_id,
                purpose="wallet", debits_must_not_exceed_credits=True,
            ),
            connection,
        )

    # 1. Request ----------------------------------------------------------------

    def request_campaign(
        self, caller: Principal, *, name: str, description: str, asset_code: str,
        bonus_value_minor: int, code_count: int, valid_from: datetime, valid_to: datetime,
        rest_destination: str, bank_account: str | None, notify_email: str | None,
    ) -> dict[str, Any]:
        """Ask for a campaign; nothing is generated until it is funded."""
        caller.require("manager")
        cap = self.bonus_value_max_minor.get(asset_code)
        with self.database.read() as connection:
            asset = connection.execute(
                select(assets.c.merchant_id).where(assets.c.code == asset_code)
            ).first()
            merchant = connection.execute(
                select(merchants.c.head_office_email).where(merchants.c.id == caller.merchant_id)
            ).one()
        if asset is None or asset.merchant_id is not None:
            raise errors.AssetNotFound("Bonus campaigns are in a currency.")
        if cap is None:
            raise errors.InvalidInput(f"Bonus campaigns in {asset_code} are not offered.")
        if bonus_value_minor > cap:
            raise errors.BonusValueTooHigh(
                f"Each bonus is worth at most {cap} minor units of {asset_code}."
            )
        if not 0 < code_count <= CODES_PER_CAMPAIGN_MAX:
            raise errors.InvalidInput(f"A campaign has 1 to {CODES_PER_CAMPAIGN_MAX} codes.")
        if valid_from >= valid_to or valid_to <= self.clock.now():
            raise errors.InvalidInput("The validity must end after it starts, in the future.")
        if rest_destination == "bank":
            if not bank_account:
                raise errors.InvalidBankAccount("A bank account is needed for the rest.")
            bank_account = normalise_bank_account(bank_account)
        else:
            bank_account = None
        campaign_id = uuid.uuid4()
        now = self.clock.now()
        for _attempt in range(5):
            try:
                with self.database.transaction() as connection:
                    escrow = self.ledger.open_account(
                        caller.merchant_id, self._escrow_spec(campaign_id, asset_code), connection
                    )
                    connection.execute(
                        insert(bonus_campaigns).values(
                            merchant_id=caller.merchant_id, id=campaign_id, name=name,
                            description=description, asset_code=asset_code,
                            bonus_value_minor=bonus_value_minor, code_count=code_count,
                            funding_required_minor=bonus_value_minor * code_count,
                            valid_from=valid_from, valid_to=valid_to,
                            rest_destination=rest_destination, bank_account=bank_account,
                            variable_symbol=new_variable_symbol(),
                            notify_email=notify_email or merchant.head_office_email,
                            status="awaiting_funding", escrow_account_id=escrow.id,
                            requested_by=caller.actor, created_at=now,
                        )
                    )
                    record_audit(
                        connection, caller.merchant_id, caller.actor, "bonus_campaign.requested",
                        campaign_id, {"name": name, "codes": code_count,
                                      "value": bonus_value_minor, "asset": asset_code}, now,
                    )
                break
            except IntegrityError:
                continue  # a variable symbol drawn twice: draw again
        return self.get_campaign(caller, campaign_id)

    def get_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
        """The campaign, its funding state, instructions and report."""
        caller.require("cashier")
        with self.database.read() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id)
            return self._view(connection, campaign)

    def list_campaigns(self, caller: Principal) -> list[dict[str, Any]]:
        caller.require("cashier")
        with self.database.read() as connection:
            rows = connection.execute(
                select(bonus_campaigns)
                .where(bonus_campaigns.c.merchant_id == caller.merchant_id)
                .order_by(bonus_campaigns.c.created_at.desc(), bonus_campaigns.c.id)
            ).mappings().all()
            return [self._view(connection, dict(row)) for row in rows]

    def _campaign(
        self, connection: Connection, merchant_id: uuid.UUID, campaign_id: uuid.UUID,
        *, lock: bool = False,
    ) -> dict[str, Any]:
        query = select(bonus_campaigns).where(
            bonus_campaigns.c.merchant_id == merchant_id, bonus_campaigns.c.id == campaign_id
        )
        if lock and self.database.is_postgresql:
            query = query.with_for_update()
        row = connection.execute(query).mappings().first()
        if row is None:
            raise errors.CampaignNotFound()
        return dict(row)

    def _view(self, connection: Connection, campaign: dict[str, Any]) -> dict[str, Any]:
        escrow = self.ledger.get_account(
            campaign["merchant_id"], campaign["escrow_account_id"], connection
        )
        funded = self._funded_minor(connection, campaign)
        redeemed_count, redeemed_minor = connection.execute(
            select(func.count(), func.coalesce(func.sum(campaign["bonus_value_minor"]), 0))
            .select_from(bonus_codes)
            .where(
                bonus_codes.c.merchant_id == campaign["merchant_id"],
                bonus_codes.c.campaign_id == campaign["id"],
                bonus_codes.c.redeemed_at.is_not(None),
            )
        ).one()
        issued = connection.execute(
            select(func.count()).select_from(bonus_codes).where(
                bonus_codes.c.merchant_id == campaign["merchant_id"],
                bonus_codes.c.campaign_id == campaign["id"],
            )
        ).scalar_one()
        export = connection.execute(
            select(bonus_code_exports).where(
                bonus_code_exports.c.merchant_id == campaign["merchant_id"],
                bonus_code_exports.c.campaign_id == campaign["id"],
            )
        ).mappings().first()
        settled = campaign["status"] in ("settled", "cancelled")
        return {
            **campaign,
            "funding": {
                "required_minor": campaign["funding_required_minor"],
                "funded_minor": funded,
                "outstanding_minor": max(campaign["funding_required_minor"] - funded, 0),
                "bank_account": self.platform_bank_account,
                "variable_symbol": campaign["variable_symbol"],
            },
            "escrow_balance_minor": self.ledger.balance(escrow, connection).credit_balance,
            "report": {
                "codes_issued": issued,
                "codes_redeemed": int(redeemed_count),
                "redeemed_minor": int(redeemed_minor),
                "codes_expired": issued - int(redeemed_count) if settled else 0,
                "refunded_minor": campaign["rest_minor"] or 0,
            },
            "plain_codes_available": bool(export and export["plain_codes"] is not None),
        }

    def _funded_minor(self, connection: Connection, campaign: dict[str, Any]) -> int:
        escrow = self.ledger.get_account(
            campaign["merchant_id"], campaign["escrow_account_id"], connection
        )
        return self.ledger.balance(escrow, connection).credits_posted

    # 2. Funding ----------------------------------------------------------------

    def fund_from_business_account(
        self, caller: Principal, campaign_id: uuid.UUID, idempotency: Idempotency
    ) -> dict[str, Any]:
        """Move what is still needed from the merchant's business account, at once."""
        caller.require("manager")
        self.code_key()
        with self.database.transaction() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id, lock=True)
            if campaign["status"] != "awaiting_funding":
                raise errors.CampaignNotAwaitingFunding()
            outstanding = campaign["funding_required_minor"] - self._funded_minor(
                connection, campaign
            )
            business = self.business_account(caller.merchant_id, campaign["asset_code"], connection)
            self.ledger.post_entry(
                caller.merchant_id,
                [Transfer(business.id, campaign["escrow_account_id"], outstanding,
                          "campaign_funding", reference=campaign["variable_symbol"])],
                kind="campaign_funding", idempotency_key=idempotency.key,
                request_hash=idempotency.request_hash, connection=connection,
            )
            plain = self._activate(connection, campaign)
        self._mail_codes(campaign, plain)
        return self.get_campaign(caller, campaign_id)

    def record_bank_payment(
        self, caller: Principal, *, asset_code: str, amount_minor: int,
        variable_symbol: str | None, received_at: datetime | None, note: str | None,
        idempotency: Idempotency,
    ) -> dict[str, Any]:
        """The operator records money that reached the platform's bank account.

        Matched by variable symbol to a campaign waiting for funds: what it still
        needs goes to its escrow, any excess to the merchant's business account.
        A payment for a funded or closed campaign goes to the business account;
        an unknown reference is parked in suspense for the operator.
        """
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator records bank payments.")
        self._require_currency(asset_code)
        self.code_key()
        payment_id = uuid.uuid4()
        now = self.clock.now()
        mailing: tuple[dict[str, Any], list[str]] | None = None
        with self.database.transaction() as connection:
            bank = self._platform_account("bank", asset_code, connection)
            campaign = self._campaign_by_symbol(connection, variable_symbol, asset_code)
            to_campaign = to_business = 0
            status = "matched"
            if campaign is None:
                status = "unmatched"
                suspense = self._platform_account("suspense", asset_code, connection)
                operations = [Transfer(bank.id, suspense.id, amount_minor, "bank_payment_parked",
                                       reference=variable_symbol)]
                ledger_merchant = PLATFORM_MERCHANT_ID
            else:
                ledger_merchant = campaign["merchant_id"]
                operations, to_campaign, to_business = self._split_payment(
                    connection, campaign, bank.id, amount_minor
                )
            self.ledger.post_entry(
                ledger_merchant, operations, kind="bank_payment",
                idempotency_key=idempotency.key and f"bank-payment:{idempotency.key}",
                request_hash=idempotency.request_hash, also_platform=True, connection=connection,
            )
            connection.execute(
                insert(bank_payments).values(
                    id=payment_id, asset_code=asset_code, amount_minor=amount_minor,
                    variable_symbol=variable_symbol, received_at=received_at or now, note=note,
                    status=status, merchant_id=campaign and campaign["merchant_id"],
                    campaign_id=campaign and campaign["id"], to_campaign_minor=to_campaign,
                    to_business_minor=to_business, recorded_by=caller.actor, created_at=now,
                )
            )
            if campaign is not None and self._now_fully_funded(connection, campaign):
                mailing = (campaign, self._activate(connection, campaign))
        if mailing is not None:
            self._mail_codes(*mailing)
        return self.get_bank_payment(caller, payment_id)

    def _split_payment(
        self, connection: Connection, campaign: dict[str, Any], bank_id: uuid.UUID, amount: int
    ) -> tuple[list[Transfer], int, int]:
        outstanding = 0
        if campaign["status"] == "awaiting_funding":
            outstanding = max(
                campaign["funding_required_minor"] - self._funded_minor(connection, campaign), 0
            )
        to_campaign = min(amount, outstanding)
        to_business = amount - to_campaign
        operations = []
        if to_campaign:
            operations.append(Transfer(bank_id, campaign["escrow_account_id"], to_campaign,
                                       "campaign_funding", reference=campaign["variable_symbol"]))
        if to_business:
            business = self.business_account(
                campaign["merchant_id"], campaign["asset_code"], connection
            )
            operations.append(Transfer(bank_id, business.id, to_business, "bank_overpayment",
                                       reference=campaign["variable_symbol"]))
        return operations, to_campaign, to_business

    def _now_fully_funded(self, connection: Connection, campaign: dict[str, Any]) -> bool:
        return campaign["status"] == "awaiting_funding" and self._funded_minor(
            connection, campaign
        ) >= campaign["funding_required_minor"]

    def assign_bank_payment(
        self, caller: Principal, payment_id: uuid.UUID, *, campaign_id: uuid.UUID | None,
        merchant_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        """The operator gives a parked payment to a campaign or a merchant's business account."""
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator assigns bank payments.")
        self.code_key()
        mailing = None
        with self.database.transaction() as connection:
            query = select(bank_payments).where(bank_payments.c.id == payment_id)
            if self.database.is_postgresql:
                query = query.with_for_update()
            payment = connection.execute(query).mappings().first()
            if payment is None:
                raise errors.BankPaymentNotFound()
            if payment["status"] != "unmatched":
                raise errors.BankPaymentAlreadyAssigned()
            suspense = self._platform_account("suspense", payment["asset_code"], connection)
            to_campaign, to_business = 0, payment["amount_minor"]
            if campaign_id is not None:
                campaign = self._campaign_anywhere(connection, campaign_id)
                if campaign["asset_code"] != payment["asset_code"]:
                    raise errors.AssetMismatch()
                operations, to_campaign, to_business = self._split_payment(
                    connection, campaign, suspense.id, payment["amount_minor"]
                )
                merchant_id = campaign["merchant_id"]
            else:
                if merchant_id is None:
                    raise errors.InvalidInput("Name a campaign or a merchant.")
                business = self.business_account(merchant_id, payment["asset_code"], connection)
                operations = [Transfer(suspense.id, business.id, payment["amount_minor"],
                                       "bank_payment_assigned")]
                campaign = None
            self.ledger.post_entry(
                merchant_id, operations, kind="bank_payment_assigned", also_platform=True,
                connection=connection,
            )
            connection.execute(
                update(bank_payments)
                .where(bank_payments.c.id == payment_id)
                .values(status="assigned", merchant_id=merchant_id,
                        campaign_id=campaign and campaign["id"], to_campaign_minor=to_campaign,
                        to_business_minor=to_business)
            )
            if campaign is not None and self._now_fully_funded(connection, campaign):
                mailing = (campaign, self._activate(connection, campaign))
        if mailing is not None:
            self._mail_codes(*mailing)
        return self.get_bank_payment(caller, payment_id)

    def get_bank_payment(self, caller: Principal, payment_id: uuid.UUID) -> dict[str, Any]:
        if not caller.is_operator:
            raise errors.Forbidden()
        with self.database.read() as connection:
            row = connection.execute(
                select(bank_payments).where(bank_payments.c.id == payment_id)
            ).mappings().first()
        if row is None:
            raise errors.BankPaymentNotFound()
        return dict(row)

    def list_bank_payments(self, caller: Principal, status: str | None) -> list[dict[str, Any]]:
        if not caller.is_operator:
            raise errors.Forbidden()
        query = select(bank_payments).order_by(bank_payments.c.created_at.desc()).limit(500)
        if status:
            query = query.where(bank_payments.c.status == status)
        with self.database.read() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def _campaign_by_symbol(
        self, connection: Connection, variable_symbol: str | None, asset_code: str
    ) -> dict[str, Any] | None:
        if not variable_symbol:
            return None
        query = select(bonus_campaigns).where(
            bonus_campaigns.c.variable_symbol == variable_symbol.strip().lstrip("0"),
            bonus_campaigns.c.asset_code == asset_code,
        )
        if self.database.is_postgresql:
            query = query.with_for_update()
        row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def _campaign_anywhere(self, connection: Connection, campaign_id: uuid.UUID) -> dict:
        query = select(bonus_campaigns).where(bonus_campaigns.c.id == campaign_id)
        if self.database.is_postgresql:
            query = query.with_for_update()
        row = connection.execute(query).mappings().first()
        if row is None:
            raise errors.CampaignNotFound()
        return dict(row)

    def _require_currency(self, asset_code: str) -> None:
        with self.database.read() as connection:
            row = connection.execute(
                select(assets.c.merchant_id).where(assets.c.code == asset_code)
            ).first()
        if row is None or row.merchant_id is not None:
            raise errors.AssetNotFound()

    # 3. Codes ------------------------------------------------------------------

    def _activate(self, connection: Connection, campaign: dict[str, Any]) -> list[str]:
        """Fully funded: generate and store the codes; returns them in the clear, once."""
        plain = self.generate_codes(connection, campaign)
        now = self.clock.now()
        connection.execute(
            update(bonus_campaigns)
            .where(
                bonus_campaigns.c.merchant_id == campaign["merchant_id"],
                bonus_campaigns.c.id == campaign["id"],
            )
            .values(status="active", funded_at=now)
        )
        connection.execute(
            insert(bonus_code_exports).values(
                merchant_id=campaign["merchant_id"], campaign_id=campaign["id"],
                plain_codes="\n".join(plain), created_at=now,
            )
        )
        record_audit(
            connection, campaign["merchant_id"], "platform", "bonus_campaign.funded",
            campaign["id"], {"codes": len(plain)}, now,
        )
        return plain

    def code_key(self) -> bytes:
        """The key of the codes' keyed hashes. Fetch it before a write transaction:
        on first use it is made in a transaction of its own."""
        return platform_key(self.database, self.clock, "bonus_codes")

    def generate_codes(self, connection: Connection, campaign: dict[str, Any]) -> list[str]:
        """Make the campaign's codes and store their keyed hashes (COPY on PostgreSQL)."""
        key = self.code_key()
        for _attempt in range(3):
            plain = new_codes(campaign["code_count"])
            rows = [
                (code_hash(key, code), campaign["merchant_id"], campaign["id"],
                 code[-LAST_CHARACTERS_SHOWN:])
                for code in plain
            ]
            try:
                with connection.begin_nested():
                    self._store_codes(connection, rows)
                return plain
            except IntegrityError:
                # A code equal to one of another campaign (about 1 in 10^9 per
                # code): draw the whole set again.
                continue
        raise AssertionError("could not draw distinct codes three times in a row")

    def _store_codes(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self.database.is_postgresql:
            cursor = connection.connection.driver_connection.cursor()
            with cursor.copy(
                "COPY bonus_codes (code_hash, merchant_id, campaign_id, last_characters)"
                " FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
            return
        connection.execute(
            insert(bonus_codes),
            [
                {"code_hash": h, "merchant_id": m, "campaign_id": c, "last_characters": last}
                for h, m, c, last in rows
            ],
        )

    def _mail_codes(self, campaign: dict[str, Any], plain: list[str]) -> None:
        if not campaign.get("notify_email"):
            return
        body = (
            f"Your bonus campaign “{campaign['name']}” is funded and its {len(plain)} codes "
            f"are attached (CSV and XLSX).\n\nEach code is worth "
            f"{campaign['bonus_value_minor']} minor units of {campaign['asset_code']} and is "
            f"valid from {campaign['valid_from']:%Y-%m-%d %H:%M} to "
            f"{campaign['valid_to']:%Y-%m-%d %H:%M} UTC.\n"
            "Keep this message safe: the platform keeps only the codes' fingerprints.\n"
        )
        self.mailer.send(
            compose(
                self.mail_from, campaign["notify_email"], f"Bonus codes: {campaign['name']}",
                body,
                attachments=[
                    ("bonus-codes.csv", "text/csv", codes_csv(campaign, plain)),
                    ("bonus-codes.xlsx",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     codes_xlsx(campaign, plain)),
                ],
            )
        )

    def download_codes(
        self, caller: Principal, campaign_id: uuid.UUID, file_format: str
    ) -> tuple[bytes, str]:
        """The plain codes as CSV or XLSX, each format once; afterwards only the ends show."""
        caller.require("manager")
        assert file_format in ("csv", "xlsx")
        column = bonus_code_exports.c[f"{file_format}_downloaded_at"]
        with self.database.transaction() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id)
            key = (
                (bonus_code_exports.c.merchant_id == caller.merchant_id)
                & (bonus_code_exports.c.campaign_id == campaign_id)
            )
            taken = connection.execute(
                update(bonus_code_exports)
                .where(key, column.is_(None), bonus_code_exports.c.plain_codes.is_not(None))
                .values({column: self.clock.now()})
                .returning(bonus_code_exports.c.plain_codes)
            ).first()
            if taken is None:
                raise errors.CodesAlreadyDownloaded()
            plain = taken.plain_codes.split("\n")
            # Both formats fetched: nothing needs the plain codes any more.
            connection.execute(
                update(bonus_code_exports)
                .where(
                    key,
                    bonus_code_exports.c.csv_downloaded_at.is_not(None),
                    bonus_code_exports.c.xlsx_downloaded_at.is_not(None),
                )
                .values(plain_codes=None, wiped_at=self.clock.now())
            )
        if file_format == "csv":
            return codes_csv(campaign, plain), "text/csv"
        return (
            codes_xlsx(campaign, plain),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )

    def list_codes(
        self, caller: Principal, campaign_id: uuid.UUID, *, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """The codes as the merchant sees them after the download: last characters, state."""
        caller.require("manager")
        with self.database.read() as connection:
            self._campaign(connection, caller.merchant_id, campaign_id)
            rows = connection.execute(
                select(bonus_codes.c.last_characters, bonus_codes.c.redeemed_at)
                .where(
                    bonus_codes.c.merchant_id == caller.merchant_id,
                    bonus_codes.c.campaign_id == campaign_id,
                )
                .order_by(bonus_codes.c.code_hash)
                .offset(offset)
                .limit(limit)
            ).all()
        return [{"last_characters": r.last_characters, "redeemed_at": r.redeemed_at} for r in rows]

    # 4–5. Redemption and lockout -----------------------------------------------------

    def redeem(
        self, customer_id: uuid.UUID, *, code: str, captcha_id: uuid.UUID, captcha_answer: str,
        client_address: str,
    ) -> Redemption:
        """A signed-in customer redeems a code into their platform wallet."""
        now = self.clock.now()
        with self.database.transaction() as connection:
            self._require_active_customer(connection, customer_id)
            self._require_not_locked(connection, customer_id, client_address, now)
        try:
            self.captchas.consume(customer_id, captcha_id, captcha_answer)
        except errors.CaptchaInvalid:
            self._record_attempt(customer_id, client_address, "captcha_wrong")
            raise
        key = self.code_key()
        normalised = normalise_code(code)
        try:
            with self.database.transaction() as connection:
                if normalised is None:
                    raise errors.CodeInvalid()
                return self._credit_code(
                    connection, customer_id, code_hash(key, normalised), client_address, now
                )
        except errors.CodeInvalid:
            self._wrong_code(customer_id, client_address)
            raise

    def _credit_code(
        self, connection: Connection, customer_id: uuid.UUID, digest: bytes, client_address: str,
        now: datetime,
    ) -> Redemption:
        row = connection.execute(
            select(bonus_codes.c.merchant_id, bonus_codes.c.campaign_id, bonus_codes.c.redeemed_at)
            .where(bonus_codes.c.code_hash == digest)
        ).first()
        if row is None or row.redeemed_at is not None:
            raise errors.CodeInvalid()
        campaign = self._campaign(connection, row.merchant_id, row.campaign_id)
        if campaign["status"] != "active":
            raise errors.CodeInvalid()
        if not campaign["valid_from"] <= now < campaign["valid_to"]:
            raise errors.CodeNotValidNow(
                f"This code is valid from {campaign['valid_from']:%Y-%m-%d %H:%M} to "
                f"{campaign['valid_to']:%Y-%m-%d %H:%M} UTC."
            )
        wallet = self.customer_wallet(customer_id, campaign["asset_code"], connection)
        transfer = Transfer(
            campaign["escrow_account_id"], wallet.id, campaign["bonus_value_minor"], "bonus_code",
            reference=campaign["name"][:200],
        )
        # The conditional update is what makes a code work once: a second,
        # concurrent redemption waits for this row and then finds it used.
        taken = connection.execute(
            update(bonus_codes)
            .where(bonus_codes.c.code_hash == digest, bonus_codes.c.redeemed_at.is_(None))
            .values(redeemed_at=now, redeemed_by=customer_id, transfer_id=transfer.id)
        )
        if taken.rowcount != 1:
            raise errors.CodeInvalid()
        entry = self.ledger.post_entry(
            campaign["merchant_id"], [transfer], kind="bonus_code_redemption",
            also_platform=True, connection=connection,
        )
        connection.execute(
            insert(bonus_attempts).values(
                id=uuid.uuid4(), customer_id=customer_id, client_address=client_address,
                outcome="redeemed", created_at=now,
            )
        )
        return Redemption(
            campaign_name=campaign["name"], asset_code=campaign["asset_code"],
            amount_minor=campaign["bonus_value_minor"], wallet_account_id=wallet.id,
            wallet_balance_minor=entry.balances[wallet.id].credit_balance,
            transfer_id=transfer.id,
        )

    def _require_active_customer(self, connection: Connection, customer_id: uuid.UUID) -> None:
        status = connection.execute(
            select(customers.c.status).where(customers.c.id == customer_id)
        ).scalar()
        if status != "active":
            raise errors.CustomerBlocked("Only an active customer may redeem bonus codes.")

    def _require_not_locked(
        self, connection: Connection, customer_id: uuid.UUID, client_address: str, now: datetime
    ) -> None:
        locked_until = connection.execute(
            select(bonus_lockouts.c.locked_until).where(bonus_lockouts.c.customer_id == customer_id)
        ).scalar()
        if locked_until is not None and locked_until > now:
            raise errors.LockedOut(
                f"Bonus codes are locked until {locked_until:%Y-%m-%d %H:%M} UTC after "
                f"{WRONG_CODES_BEFORE_LOCK} wrong codes.",
                locked_until=locked_until.isoformat(),
            )
        wrong_from_address = connection.execute(
            select(func.count()).select_from(bonus_attempts).where(
                bonus_attempts.c.client_address == client_address,
                bonus_attempts.c.outcome == "wrong",
                bonus_attempts.c.created_at > now - ADDRESS_WINDOW,
            )
        ).scalar_one()
        if wrong_from_address >= WRONG_CODES_PER_ADDRESS_MAX:
            raise errors.TooManyAttempts()

    def _record_attempt(self, customer_id: uuid.UUID, client_address: str, outcome: str) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                insert(bonus_attempts).values(
                    id=uuid.uuid4(), customer_id=customer_id, client_address=client_address,
                    outcome=outcome, created_at=self.clock.now(),
                )
            )

    def _wrong_code(self, customer_id: uuid.UUID, client_address: str) -> None:
        """Count a wrong code; the fifth within a day locks the feature for a day."""
        now = self.clock.now()
        with self.database.transaction() as connection:
            connection.execute(
                insert(bonus_attempts).values(
                    id=uuid.uuid4(), customer_id=customer_id, client_address=client_address,
                    outcome="wrong", created_at=now,
                )
            )
            previous_lock = connection.execute(
                select(bonus_lockouts.c.locked_until).where(
                    bonus_lockouts.c.customer_id == customer_id
                )
            ).scalar()
            since = now - LOCKOUT_DURATION
            if previous_lock is not None and previous_lock > since:
                since = previous_lock
            failures = connection.execute(
                select(func.count()).select_from(bonus_attempts).where(
                    bonus_attempts.c.customer_id == customer_id,
                    bonus_attempts.c.outcome == "wrong",
                    bonus_attempts.c.created_at > since,
                )
            ).scalar_one()
            if failures >= WRONG_CODES_BEFORE_LOCK:
                locked_until = now + LOCKOUT_DURATION
                if previous_lock is None:
                    connection.execute(
                        insert(bonus_lockouts).values(
                            customer_id=customer_id, locked_until=locked_until
                        )
                    )
                else:
                    connection.execute(
                        update(bonus_lockouts)
                        .where(bonus_lockouts.c.customer_id == customer_id)
                        .values(locked_until=locked_until)
                    )

    def lock_state(self, customer_id: uuid.UUID) -> datetime | None:
        """Until when the customer's bonus feature is locked, if it is."""
        with self.database.read() as connection:
            locked_until = connection.execute(
                select(bonus_lockouts.c.locked_until).where(
                    bonus_lockouts.c.customer_id == customer_id
                )
            ).scalar()
        return locked_until if locked_until and locked_until > self.clock.now() else None

    # 6. Stop, expiry and settlement ---------------------------------------------------

    def stop_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
        """Stop early: remaining codes are refused; the rest leaves at the next settlement."""
        caller.require("manager")
        with self.database.transaction() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id, lock=True)
            if campaign["status"] not in ("active", "awaiting_funding"):
                raise errors.CampaignNotActive()
            new_status = "stopped" if campaign["status"] == "active" else "cancelled"
            connection.execute(
                update(bonus_campaigns)
                .where(
                    bonus_campaigns.c.merchant_id == caller.merchant_id,
                    bonus_campaigns.c.id == campaign_id,
                )
                .values(status=new_status, stopped_at=self.clock.now())
            )
            record_audit(
                connection, caller.merchant_id, caller.actor, f"bonus_campaign.{new_status}",
                campaign_id, {}, self.clock.now(),
            )
            if new_status == "cancelled":
                self._settle(connection, {**campaign, "status": new_status})
        return self.get_campaign(caller, campaign_id)

    def settle_due_campaigns(self) -> int:
        """The job: campaigns past their validity, or stopped, give back their rest."""
        now = self.clock.now()
        with self.database.read() as connection:
            due = connection.execute(
                select(bonus_campaigns.c.merchant_id, bonus_campaigns.c.id).where(
                    (bonus_campaigns.c.status == "stopped")
                    | (
                        bonus_campaigns.c.status.in_(("active", "awaiting_funding"))
                        & (bonus_campaigns.c.valid_to <= now)
                    )
                )
            ).all()
        for merchant_id, campaign_id in due:
            with self.database.transaction() as connection:
                campaign = self._campaign(connection, merchant_id, campaign_id, lock=True)
                if campaign["status"] in ("settled", "cancelled"):
                    continue
                self._settle(connection, campaign)
        return len(due)

    def _settle(self, connection: Connection, campaign: dict[str, Any]) -> None:
        escrow = self.ledger.get_account(
            campaign["merchant_id"], campaign["escrow_account_id"], connection
        )
        rest = self.ledger.balance(escrow, connection).credit_balance
        now = self.clock.now()
        if rest > 0:
            if campaign["rest_destination"] == "business_account":
                business = self.business_account(
                    campaign["merchant_id"], campaign["asset_code"], connection
                )
                operations = [Transfer(escrow.id, business.id, rest, "campaign_rest_refund",
                                       reference=campaign["variable_symbol"])]
            else:
                clearing = self._platform_account(
                    "payouts_pending", campaign["asset_code"], connection
                )
                operations = [Transfer(escrow.id, clearing.id, rest, "campaign_rest_payout",
                                       reference=campaign["variable_symbol"])]
                connection.execute(
                    insert(bonus_payouts).values(
                        merchant_id=campaign["merchant_id"], id=uuid.uuid4(),
                        campaign_id=campaign["id"], asset_code=campaign["asset_code"],
                        amount_minor=rest, bank_account=campaign["bank_account"],
                        status="pending", created_at=now,
                    )
                )
            self.ledger.post_entry(
                campaign["merchant_id"], operations, kind="campaign_settlement",
                also_platform=True, connection=connection,
            )
        final_status = "cancelled" if campaign["status"] in ("awaiting_funding", "cancelled") else (
            "settled"
        )
        connection.execute(
            update(bonus_campaigns)
            .where(
                bonus_campaigns.c.merchant_id == campaign["merchant_id"],
                bonus_campaigns.c.id == campaign["id"],
            )
            .values(status=final_status, settled_at=now, rest_minor=rest)
        )
        # Nothing needs the plain codes of a closed campaign.
        connection.execute(
            update(bonus_code_exports)
            .where(
                bonus_code_exports.c.merchant_id == campaign["merchant_id"],
                bonus_code_exports.c.campaign_id == campaign["id"],
                bonus_code_exports.c.plain_codes.is_not(None),
            )
            .values(plain_codes=None, wiped_at=now)
        )

    def wipe_old_plain_codes(self) -> int:
        now = self.clock.now()
        with self.database.transaction() as connection:
            return connection.execute(
                update(bonus_code_exports)
                .where(
                    bonus_code_exports.c.plain_codes.is_not(None),
                    bonus_code_exports.c.created_at <= now - PLAIN_CODES_KEPT,
                )
                .values(plain_codes=None, wiped_at=now)
            ).rowcount

    def list_payouts(self, caller: Principal, status: str | None) -> list[dict[str, Any]]:
        query = select(bonus_payouts).order_by(bonus_payouts.c.created_at.desc()).limit(500)
        if not caller.is_operator:
            caller.require("manager")
            query = query.where(bonus_payouts.c.merchant_id == caller.merchant_id)
        if status:
            query = query.where(bonus_payouts.c.status == status)
        with self.database.read() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def mark_payout_paid(self, caller: Principal, payout_id: uuid.UUID) -> dict[str, Any]:
        """The operator records that the rest was sent to the merchant's bank."""
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator records payouts.")
        now = self.clock.now()
        with self.database.transaction() as connection:
            query = select(bonus_payouts).where(bonus_payouts.c.id == payout_id)
            if self.database.is_postgresql:
                query = query.with_for_update()
            payout = connection.execute(query).mappings().first()
            if payout is None:
                raise errors.PayoutNotFound()
            if payout["status"] == "paid":
                raise errors.PayoutAlreadyPaid()
            clearing = self._platform_account("payouts_pending", payout["asset_code"], connection)
            bank = self._platform_account("bank", payout["asset_code"], connection)
            self.ledger.post_entry(
                PLATFORM_MERCHANT_ID,
                [Transfer(clearing.id, bank.id, payout["amount_minor"], "bank_payout",
                          reference=payout["bank_account"])],
                kind="bank_payout", connection=connection,
            )
            connection.execute(
                update(bonus_payouts)
                .where(bonus_payouts.c.id == payout_id)
                .values(status="paid", paid_at=now, paid_by=caller.actor)
            )
            row = connection.execute(
                select(bonus_payouts).where(bonus_payouts.c.id == payout_id)
            ).mappings().one()
        return dict(row)


def codes_csv(campaign: dict[str, Any], plain: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "value_minor", "currency", "valid_from", "valid_to", "campaign"])
    for code in plain:
        writer.writerow([
            code, campaign["bonus_value_minor"], campaign["asset_code"],
            campaign["valid_from"].isoformat(), campaign["valid_to"].isoformat(), campaign["name"],
        ])
    return buffer.getvalue().encode()


def codes_xlsx(campaign: dict[str, Any], plain: list[str]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Bonus codes")
    sheet.append(["code", "value_minor", "currency", "valid_from", "valid_to", "campaign"])
    valid_from = campaign["valid_from"].replace(tzinfo=None)
    valid_to = campaign["valid_to"].replace(tzinfo=None)
    for code in plain:
        sheet.append([code, campaign["bonus_value_minor"], campaign["asset_code"], valid_from,
                      valid_to, campaign["name"]])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
