"""Redemption: a signed-in customer types a code; its value lands in their platform wallet.

The PaySec rules: only an active customer redeems (their platform account
active, and their membership at the campaign's merchant, if they have one,
not blocked by that merchant); each attempt needs a fresh captcha;
WRONG_CODES_BEFORE_LOCK attempts within LOCKOUT_DURATION lock the feature for
LOCKOUT_DURATION, and a right code starts the count again; one client address
may make ATTEMPTS_PER_ADDRESS_MAX attempts per ADDRESS_WINDOW, whatever the
customer.

The limits hold under parallel requests because each attempt is reserved
with the attempt limiter (security/attempts.py) before the code is looked up:
the customer's, then the address's, each in one statement. Twenty wrong
codes sent at once look up five of them; the others are refused unseen. A
right code records the customer's success in the redemption's own unit of
work; any other outcome records a failure, and the failure that spends the
last attempt locks. The address's count is not reset by a right code (a
holder of one good code could clear it at will): it counts every attempt.

Until a code can be redeemed now, every refusal is one answer, code_invalid
(wrong, used, withdrawn, malformed, or a real code outside its campaign's
validity: saying "valid from …" would tell a guesser that the code exists and
when to come back), and counts as a failure.

A wrong captcha is no attempt at a code: the code is not looked up behind it,
so it tells nothing and is not counted (it is only logged). The captcha is
checked before the reservation for that reason, and so that a customer who
mistypes the image loses no attempt.

Every attempt that reaches a code, and every wrong captcha, is written to the
attempts' log (bonus_attempts, per customer and client address): a record for
people, which no limit is counted from.

A code is a tender: `plan_redemption` says what redeeming it does (the escrow
pays the wallet, the code is used), computed under the code's lock and posted
by `commit_plans` as the redemption's one journal entry.

Errors, in order of precedence: customer_blocked (the platform account),
locked_out, too_many_attempts (a lock already set, before the captcha),
captcha_invalid, locked_out, too_many_attempts (the reservation),
code_invalid, customer_blocked (the membership at the code's merchant, told
only for a code that could be redeemed now, once the attempt is counted).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cagnotte import errors
from cagnotte.db.tables import PLATFORM_MERCHANT_ID, memberships
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.ledger import Transfer
from cagnotte.ledger.model import Account
from cagnotte.programs.bonus_codes import lockouts, repository
from cagnotte.programs.bonus_codes.codes import code_hash, normalise_code
from cagnotte.programs.bonus_codes.context import BonusContext
from cagnotte.programs.bonus_codes.rows import AttemptOutcome, BonusCode, Campaign
from cagnotte.programs.bonus_codes.tables import bonus_codes
from cagnotte.programs.tenders import Plan, RowUpdate, commit_plans
from cagnotte.security.attempts import (
    Attempt,
    AttemptLimiter,
    AttemptPolicy,
    AttemptRefused,
    subject_key,
)
from cagnotte.security.captcha import CaptchaService
from cagnotte.security.hash_keys import HashKeys
from cagnotte.security.principals import PLATFORM_ACCOUNT_BLOCKED
from cagnotte.webhooks.service import emit

WRONG_CODES_BEFORE_LOCK = 5
LOCKOUT_DURATION = timedelta(hours=24)
# Attempts from one client address (any customer) before that address must wait.
ATTEMPTS_PER_ADDRESS_MAX = 20
ADDRESS_WINDOW = timedelta(hours=1)
# The seed's rule: five wrong codes within a day lock the bonus feature for a day.
CUSTOMER_POLICY = AttemptPolicy(
    attempts=WRONG_CODES_BEFORE_LOCK, window=LOCKOUT_DURATION, lock=LOCKOUT_DURATION
)
ADDRESS_POLICY = AttemptPolicy(
    attempts=ATTEMPTS_PER_ADDRESS_MAX, window=ADDRESS_WINDOW, lock=ADDRESS_WINDOW
)
# The limiter's scopes: a customer's attempts (by id), an address's (by a hash of it).
CUSTOMER_SCOPE = "bonus_code"
ADDRESS_SCOPE = "bonus_code_address"
# The longest transfer reference the ledger keeps (a campaign's name may be longer).
REFERENCE_LENGTH_MAX = 200
MEMBERSHIP_BLOCKED = "Your membership at this code's merchant is blocked: its codes cannot be used."


@dataclass(frozen=True, slots=True)
class Redemption:
    """A code credited to a customer's wallet."""

    campaign_name: str
    asset_code: str
    amount_minor: int
    wallet_account_id: uuid.UUID
    wallet_balance_minor: int
    transfer_id: uuid.UUID


class CodeOutsideValidity(errors.CodeInvalid):
    """A real code outside its campaign's validity: told as code_invalid, logged apart."""


@dataclass(frozen=True, slots=True)
class _Attempts:
    """One redemption's reserved attempts: the customer's and the client address's."""

    customer: Attempt
    address: Attempt
    client_address: str


def require_redeemable(
    code: BonusCode | None, campaign: Campaign | None, now: datetime
) -> Campaign:
    """The campaign of a code that may be redeemed now.

    An unknown code, a used one, one of a campaign that is not active and one
    outside its validity all raise code_invalid, with the same message: the
    answer never tells them apart.
    """
    if code is None or code.is_redeemed or campaign is None or campaign.status != "active":
        raise errors.CodeInvalid()
    if not campaign.is_valid_at(now):
        raise CodeOutsideValidity()
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


class Redemptions:
    def __init__(
        self, context: BonusContext, captchas: CaptchaService, attempts: AttemptLimiter
    ) -> None:
        self.context = context
        self.captchas = captchas
        self.attempts = attempts

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
        self._require_may_try(customer_id, client_address)
        try:
            self.captchas.consume(customer_id, captcha_id, captcha_answer)
        except errors.CaptchaInvalid:
            self._log(customer_id, client_address, "captcha_wrong")
            raise
        keys = self.context.code_keys()
        attempts = self._reserve(customer_id, client_address)
        try:
            return self._redeem_code(customer_id, normalise_code(code), keys, attempts)
        except (errors.CodeInvalid, errors.CustomerBlocked) as refusal:
            self._failed(attempts, customer_id, _outcome(refusal))
            raise

    def _require_may_try(self, customer_id: uuid.UUID, client_address: str) -> None:
        """Refuse a blocked account, and a customer or an address locked already.

        Only a look, for the answer's precedence (a locked customer is told so
        whatever the captcha); the reservation decides.
        """
        with self.context.database.read() as connection:
            status = repository.customer_status(connection, customer_id)
        if status != "active":
            raise errors.CustomerBlocked(PLATFORM_ACCOUNT_BLOCKED)
        customer_locked_until = self.attempts.locked_until(CUSTOMER_SCOPE, str(customer_id))
        if customer_locked_until is not None:
            raise _locked_out(customer_locked_until)
        if self.attempts.locked_until(ADDRESS_SCOPE, subject_key(client_address)) is not None:
            raise errors.TooManyAttempts()

    def _reserve(self, customer_id: uuid.UUID, client_address: str) -> _Attempts:
        """Count this attempt for the customer, then for the address, before any look-up.

        The customer's first: a burst from one customer is stopped there and
        spends none of the address's attempts. An attempt reserved for the
        customer and then refused by the address stays counted (a limit errs
        on the safe side).
        """
        try:
            customer = self.attempts.reserve(CUSTOMER_SCOPE, str(customer_id), CUSTOMER_POLICY)
        except AttemptRefused as refused:
            raise _locked_out(refused.until) from None
        try:
            address = self.attempts.reserve(
                ADDRESS_SCOPE, subject_key(client_address), ADDRESS_POLICY
            )
        except AttemptRefused:
            raise errors.TooManyAttempts() from None
        return _Attempts(customer=customer, address=address, client_address=client_address)

    def _redeem_code(
        self, customer_id: uuid.UUID, normalised: str | None, keys: HashKeys, attempts: _Attempts
    ) -> Redemption:
        if normalised is None:
            raise errors.CodeInvalid()
        # A first look without a lock, to open the wallet before the unit of work
        # (and to refuse most wrong codes without one); the unit looks again. The
        # code is looked up under every key (newest first) while one is rotated.
        with self.context.database.read() as connection:
            found = repository.code(connection, [code_hash(key, normalised) for key in keys.keys])
            campaign = membership = None
            if found is not None and not found.is_redeemed:
                campaign = repository.campaign(connection, found.merchant_id, found.campaign_id)
                membership = repository.membership_of(connection, found.merchant_id, customer_id)
        campaign = require_redeemable(found, campaign, self.context.clock.now())
        assert found is not None
        digest = found.code_hash
        if membership is not None and membership.status != "active":
            raise errors.CustomerBlocked(MEMBERSHIP_BLOCKED)
        wallet = self.context.accounts.customer_wallet(customer_id, campaign.asset_code)
        membership_id = membership.id if membership is not None else None
        return self.context.units.run(
            campaign.merchant_id,
            "bonus_code_redemption",
            lambda unit: self._redeem_in(
                unit, digest, customer_id, membership_id, wallet, attempts
            ),
        )

    def _redeem_in(
        self,
        unit: UnitOfWork,
        digest: bytes,
        customer_id: uuid.UUID,
        membership_id: uuid.UUID | None,
        wallet: Account,
        attempts: _Attempts,
    ) -> Redemption:
        # The member's row is locked first (LOCK_ORDER): a merchant's block waits
        # for this redemption, or this redemption sees the block.
        if membership_id is not None:
            member = unit.lock_many(memberships, [membership_id], keys_stay=True)
            if member and member[0]["status"] != "active":
                raise errors.CustomerBlocked(MEMBERSHIP_BLOCKED)
        if repository.customer_status(unit.connection, customer_id) != "active":
            raise errors.CustomerBlocked(PLATFORM_ACCOUNT_BLOCKED)
        # Under the code's lock a second, concurrent redemption waits, then finds it used.
        code = repository.lock_code(unit, digest)
        campaign = None
        if code is not None:
            campaign = repository.campaign(unit.connection, code.merchant_id, code.campaign_id)
        campaign = require_redeemable(code, campaign, unit.now)
        assert code is not None
        plan = plan_redemption(unit, code, campaign, wallet, customer_id)
        # The right code starts the customer's count again, in this unit: if the
        # redemption rolls back, so does the reset.
        self.attempts.succeeded(attempts.customer, connection=unit.connection)
        entry = commit_plans(
            self.context.ledger, unit, [plan], kind="bonus_code_redemption", also_platform=True
        )
        assert entry is not None
        lockouts.record_attempt(
            unit.connection, customer_id, attempts.client_address, "redeemed", unit.now
        )
        # The campaign's merchant is told (never the code itself), in this unit.
        emit(
            unit.connection,
            campaign.merchant_id,
            "bonus_code.redeemed",
            {
                "campaign_id": str(campaign.id),
                "customer_id": str(membership_id) if membership_id is not None else None,
                "asset": campaign.asset_code,
                "amount_minor": plan.amount,
                "transfer_id": str(plan.details["transfer_id"]),
                "entry_id": str(entry.entry_id),
            },
            now=unit.now,
        )
        return Redemption(
            campaign_name=campaign.name,
            asset_code=campaign.asset_code,
            amount_minor=plan.amount,
            wallet_account_id=wallet.id,
            wallet_balance_minor=entry.balances[wallet.id].credit_balance,
            transfer_id=plan.details["transfer_id"],
        )

    # The attempts ------------------------------------------------------------------

    def _failed(self, attempts: _Attempts, customer_id: uuid.UUID, outcome: AttemptOutcome) -> None:
        """Record a refused attempt: logged, and a failure of both counts (the last locks)."""

        def work(unit: UnitOfWork) -> None:
            self.attempts.failed(attempts.customer, connection=unit.connection)
            self.attempts.failed(attempts.address, connection=unit.connection)
            lockouts.record_attempt(
                unit.connection, customer_id, attempts.client_address, outcome, unit.now
            )

        self.context.units.run(PLATFORM_MERCHANT_ID, "bonus_code_wrong", work)

    def _log(self, customer_id: uuid.UUID, client_address: str, outcome: AttemptOutcome) -> None:
        self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bonus_code_attempt",
            lambda unit: lockouts.record_attempt(
                unit.connection, customer_id, client_address, outcome, unit.now
            ),
        )

    def lock_state(self, customer_id: uuid.UUID) -> datetime | None:
        """Until when the customer's bonus feature is locked, if it is."""
        return self.attempts.locked_until(CUSTOMER_SCOPE, str(customer_id))


def _locked_out(until: datetime) -> errors.DomainError:
    return errors.LockedOut(
        f"Bonus codes are locked until {until:%Y-%m-%d %H:%M} UTC after "
        f"{WRONG_CODES_BEFORE_LOCK} wrong codes.",
        locked_until=until.isoformat(),
    )


def _outcome(refusal: errors.DomainError) -> AttemptOutcome:
    """How the attempts' log names a refused attempt."""
    if isinstance(refusal, errors.CustomerBlocked):
        return "customer_blocked"
    if isinstance(refusal, CodeOutsideValidity):
        return "not_valid_now"
    return "wrong"
