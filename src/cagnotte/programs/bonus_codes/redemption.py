"""Redemption: a signed-in customer types a code; its value lands in their platform wallet.

The PaySec rules: only an active customer redeems; each attempt needs a fresh
captcha; WRONG_CODES_BEFORE_LOCK wrong codes within LOCKOUT_DURATION lock the
feature for LOCKOUT_DURATION; one client address may try
WRONG_CODES_PER_ADDRESS_MAX wrong codes per ADDRESS_WINDOW, whatever the
customer. A wrong, used, withdrawn or malformed code gets one and the same
answer (code_invalid), and counts as a wrong code.

A code is a tender: `plan_redemption` says what redeeming it does (the escrow
pays the wallet, the code is used), computed under the code's lock and posted
by `commit_plans` as the redemption's one journal entry.

Errors, in order of precedence: customer_blocked, locked_out,
too_many_attempts, captcha_invalid, code_invalid, code_not_valid_now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.ledger import Transfer
from cagnotte.ledger.model import Account
from cagnotte.programs.bonus_codes import lockouts, repository
from cagnotte.programs.bonus_codes.codes import code_hash, normalise_code
from cagnotte.programs.bonus_codes.context import BonusContext
from cagnotte.programs.bonus_codes.rows import AttemptOutcome, BonusCode, Campaign
from cagnotte.programs.bonus_codes.tables import bonus_codes
from cagnotte.programs.tenders import Plan, RowUpdate, commit_plans
from cagnotte.security.captcha import CaptchaService
from cagnotte.security.hash_keys import HashKeys

WRONG_CODES_BEFORE_LOCK = 5
LOCKOUT_DURATION = timedelta(hours=24)
# Wrong codes from one client address (any customer) before that address must wait.
WRONG_CODES_PER_ADDRESS_MAX = 20
ADDRESS_WINDOW = timedelta(hours=1)
# The longest transfer reference the ledger keeps (a campaign's name may be longer).
REFERENCE_LENGTH_MAX = 200


@dataclass(frozen=True, slots=True)
class Redemption:
    """A code credited to a customer's wallet."""

    campaign_name: str
    asset_code: str
    amount_minor: int
    wallet_account_id: uuid.UUID
    wallet_balance_minor: int
    transfer_id: uuid.UUID


def require_redeemable(
    code: BonusCode | None, campaign: Campaign | None, now: datetime
) -> Campaign:
    """The campaign of a code that may be redeemed now.

    An unknown code, a used one and one of a campaign that is not active all
    raise the same code_invalid: the answer never tells them apart.
    """
    if code is None or code.is_redeemed or campaign is None or campaign.status != "active":
        raise errors.CodeInvalid()
    if not campaign.is_valid_at(now):
        raise errors.CodeNotValidNow(
            f"This code is valid from {campaign.valid_from:%Y-%m-%d %H:%M} to "
            f"{campaign.valid_to:%Y-%m-%d %H:%M} UTC."
        )
    return campaign


def plan_redemption(
    unit: UnitOfWork,
    code: BonusCode,
    campaign: Campaign,
    wallet: Account,
    customer_id: uuid.UUID,
) -> Plan:
    """The bonus code as a tender: its value from the escrow to the wallet, the code used.

    The wallet is the customer's platform wallet (the platform's account), so
    the plan is committed with `also_platform`.
    """
    assert code.campaign_id == campaign.id and wallet.asset_code == campaign.asset_code
    transfer = Transfer(
        campaign.escrow_account_id,
        wallet.id,
        campaign.bonus_value_minor,
        "bonus_code",
        reference=campaign.name[:REFERENCE_LENGTH_MAX],
    )
    used = RowUpdate(
        bonus_codes,
        code.code_hash,
        {
            "redeemed_at": unit.now,
            "redeemed_by": customer_id,
            "transfer_id": transfer.id,
        },
        key="code_hash",
    )
    return Plan(
        "bonus_code",
        (transfer,),
        (used,),
        amount=campaign.bonus_value_minor,
        details={"campaign_name": campaign.name, "transfer_id": transfer.id},
    )


def wrong_codes_count_since(last_lock_end: datetime | None, now: datetime) -> datetime:
    """Wrong codes count for LOCKOUT_DURATION, and none from before the last lock ended."""
    since = now - LOCKOUT_DURATION
    if last_lock_end is not None and last_lock_end > since:
        return last_lock_end
    return since


class Redemptions:
    def __init__(self, context: BonusContext, captchas: CaptchaService) -> None:
        self.context = context
        self.captchas = captchas

    def redeem(
        self,
        customer_id: uuid.UUID,
        *,
        code: str,
        captcha_id: uuid.UUID,
        captcha_answer: str,
        client_address: str,
    ) -> Redemption:
        """A signed-in customer redeems a code into their platform wallet."""
        with self.context.database.read() as connection:
            self._require_may_try(connection, customer_id, client_address)
        try:
            self.captchas.consume(customer_id, captcha_id, captcha_answer)
        except errors.CaptchaInvalid:
            self._record_attempt(customer_id, client_address, "captcha_wrong")
            raise
        keys = self.context.code_keys()
        try:
            return self._redeem_code(customer_id, normalise_code(code), keys, client_address)
        except errors.CodeInvalid:
            self._wrong_code(customer_id, client_address)
            raise

    def _require_may_try(
        self, connection: Connection, customer_id: uuid.UUID, client_address: str
    ) -> None:
        now = self.context.clock.now()
        if repository.customer_status(connection, customer_id) != "active":
            raise errors.CustomerBlocked("Only an active customer may redeem bonus codes.")
        locked_until = lockouts.locked_until(connection, customer_id)
        if locked_until is not None and locked_until > now:
            raise errors.LockedOut(
                f"Bonus codes are locked until {locked_until:%Y-%m-%d %H:%M} UTC after "
                f"{WRONG_CODES_BEFORE_LOCK} wrong codes.",
                locked_until=locked_until.isoformat(),
            )
        wrong_from_address = lockouts.wrong_codes_from_address(
            connection, client_address, now - ADDRESS_WINDOW
        )
        if wrong_from_address >= WRONG_CODES_PER_ADDRESS_MAX:
            raise errors.TooManyAttempts()

    def _redeem_code(
        self, customer_id: uuid.UUID, normalised: str | None, keys: HashKeys, client_address: str
    ) -> Redemption:
        if normalised is None:
            raise errors.CodeInvalid()
        # A first look without a lock, to open the wallet before the unit of work
        # (and to refuse most wrong codes without one); the unit looks again. The
        # code is looked up under every key (newest first) while one is rotated.
        with self.context.database.read() as connection:
            found = repository.code(connection, [code_hash(key, normalised) for key in keys.keys])
            campaign = None
            if found is not None and not found.is_redeemed:
                campaign = repository.campaign(connection, found.merchant_id, found.campaign_id)
        campaign = require_redeemable(found, campaign, self.context.clock.now())
        assert found is not None
        digest = found.code_hash
        wallet = self.context.accounts.customer_wallet(customer_id, campaign.asset_code)
        return self.context.units.run(
            campaign.merchant_id,
            "bonus_code_redemption",
            lambda unit: self._redeem_in(unit, digest, customer_id, wallet, client_address),
        )

    def _redeem_in(
        self,
        unit: UnitOfWork,
        digest: bytes,
        customer_id: uuid.UUID,
        wallet: Account,
        client_address: str,
    ) -> Redemption:
        # Under the code's lock a second, concurrent redemption waits, then finds it used.
        code = repository.lock_code(unit, digest)
        campaign = None
        if code is not None:
            campaign = repository.campaign(unit.connection, code.merchant_id, code.campaign_id)
        campaign = require_redeemable(code, campaign, unit.now)
        assert code is not None
        plan = plan_redemption(unit, code, campaign, wallet, customer_id)
        entry = commit_plans(
            self.context.ledger, unit, [plan], kind="bonus_code_redemption", also_platform=True
        )
        assert entry is not None
        lockouts.record_attempt(unit.connection, customer_id, client_address, "redeemed", unit.now)
        return Redemption(
            campaign_name=campaign.name,
            asset_code=campaign.asset_code,
            amount_minor=plan.amount,
            wallet_account_id=wallet.id,
            wallet_balance_minor=entry.balances[wallet.id].credit_balance,
            transfer_id=plan.details["transfer_id"],
        )

    # Attempts and the lockout ------------------------------------------------------

    def _record_attempt(
        self, customer_id: uuid.UUID, client_address: str, outcome: AttemptOutcome
    ) -> None:
        self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bonus_code_attempt",
            lambda unit: lockouts.record_attempt(
                unit.connection, customer_id, client_address, outcome, unit.now
            ),
        )

    def _wrong_code(self, customer_id: uuid.UUID, client_address: str) -> None:
        """Count a wrong code; the fifth within a day locks the feature for a day."""
        self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bonus_code_wrong",
            lambda unit: self._count_wrong_code(unit, customer_id, client_address),
        )

    @staticmethod
    def _count_wrong_code(unit: UnitOfWork, customer_id: uuid.UUID, client_address: str) -> None:
        connection = unit.connection
        lockouts.record_attempt(connection, customer_id, client_address, "wrong", unit.now)
        since = wrong_codes_count_since(lockouts.locked_until(connection, customer_id), unit.now)
        if lockouts.wrong_codes_of_customer(connection, customer_id, since) >= (
            WRONG_CODES_BEFORE_LOCK
        ):
            lockouts.lock_out(connection, customer_id, unit.now + LOCKOUT_DURATION)

    def lock_state(self, customer_id: uuid.UUID) -> datetime | None:
        """Until when the customer's bonus feature is locked, if it is."""
        with self.context.database.read() as connection:
            locked_until = lockouts.locked_until(connection, customer_id)
        return locked_until if locked_until and locked_until > self.context.clock.now() else None
