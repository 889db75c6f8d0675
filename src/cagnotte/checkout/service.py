"""The register check: quote, commit, refund.

A quote prices the check and says what it would do, writing nothing. A commit
prices it again on the server (a client never tells the price of a reward or
the points to earn) and posts everything it does — points and kitty spent and
earned, stamps, the wallet's payment — as **one journal entry** in one unit of
work, with the check, its lines and its effects; a retry with the same
Idempotency-Key answers the first commit. A refund, of the whole check or of
some lines, reverses each effect in proportion (several partial refunds add up
to at most the check). A refund giving back more than the platform's
`check_refund_cashier_max_minor` needs a manager.

Refund policy when the customer has already spent points the refund takes
back: the ledger never lets a balance go below zero, so what is there is taken
back, and the value of the rest (at the program's point value) is **kept off
the money returned** (`kept_off_refund_minor` in the answer; the register pays
back that much less). So a customer never keeps points for a refunded purchase,
and nothing is lost track of.

The same policy holds for a voucher, credit or next-purchase discount the
refunded check issued that the member has used already: what it gave is kept
off the money returned (`checkout/credits.py`); an unused one is voided.

A commit and a refund are told to the merchant's webhook endpoints
(`check.committed`, `check.refunded`: the answer the register gets), written in
the same unit of work.

Errors: not_found, forbidden, invalid_input, insufficient_funds,
customer_blocked, invoice_required, invoice_reused, idempotency_key_reused,
refund_exceeds_check, credit_not_usable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cagnotte import errors
from cagnotte.catalogue.rows import ProductFacts
from cagnotte.catalogue.service import CatalogueService
from cagnotte.checkout import birthdays, credits, earning, pending, refunds, stamps, tiers
from cagnotte.checkout.context import check_context
from cagnotte.checkout.model import (
    CheckRequest,
    Effect,
    LineShare,
    PricedLine,
    Quote,
)
from cagnotte.checkout.pricing import (
    ResolvedLine,
    Standing,
    priced_lines,
    spend_loyalty,
    wallet_payment,
)
from cagnotte.checkout.tables import check_effects, check_lines, check_refunds, checks
from cagnotte.checkout.usage import local_day, member_facts, record_usage, take_back_usage
from cagnotte.clock import Clock
from cagnotte.crm.segments import Segments
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import memberships, stores
from cagnotte.db.unit_of_work import Idempotency, StoredAnswer, UnitOfWork, UnitsOfWork
from cagnotte.i18n import DEFAULT_TIME_ZONE, merchant_locale
from cagnotte.ledger import Ledger, Reverse, Transfer
from cagnotte.ledger.model import Account, Operation
from cagnotte.money import Asset
from cagnotte.programs.gift_cards import GiftCardService
from cagnotte.programs.gift_cards import repository as gift_card_repository
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.programs.gift_cards.spending import PaymentCard
from cagnotte.programs.loyalty import ANONYMOUS, CustomerFacts
from cagnotte.programs.loyalty.admin import LoyaltyPrograms, member_account_among
from cagnotte.programs.loyalty.budgets import Budget, budgets_of
from cagnotte.programs.loyalty.index import RuleIndex
from cagnotte.programs.loyalty.program import LoyaltyProgram
from cagnotte.programs.loyalty.tables import loyalty_rules
from cagnotte.programs.tenders import Plan, RowInsert, commit_plans
from cagnotte.programs.wallets import WalletAccounts, WalletService
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import emit

CHANNELS = ("register", "kiosk", "e_store", "customer_app", "third_party_api")


@dataclass(frozen=True, slots=True)
class CommittedCheck:
    """A committed check: its id, its entry, and what it did."""

    id: uuid.UUID
    entry_id: uuid.UUID | None
    quote: Quote
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class MemberStanding:
    """A member in one program: balance, spendable now, pending (units, until), tier."""

    program: LoyaltyProgram
    balance_units: int
    available_units: int
    pending: tuple[tuple[int, datetime], ...]
    tier: tiers.MemberTier | None


@dataclass(frozen=True, slots=True)
class CheckFilters:
    """Which recorded checks to list (None: any)."""

    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    store_id: uuid.UUID | None = None
    terminal_id: uuid.UUID | None = None
    channel: str | None = None
    program_id: uuid.UUID | None = None
    membership_id: uuid.UUID | None = None
    member: bool | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one check of an offline batch."""

    idempotency_key: str
    status: str  # committed, replayed or refused
    check: CommittedCheck | None
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class CheckRefund:
    """What a refund gave back: money (to the wallet, the rest otherwise) and units."""

    id: uuid.UUID
    check_id: uuid.UUID
    lines: dict[int, int]
    money_back_minor: int
    to_wallet_minor: int
    # The value of earned points the customer had already spent: paid back that much less.
    kept_off_refund_minor: int
    entry_id: uuid.UUID | None
    replayed: bool = False
    # What went back onto the gift card that paid part of the check.
    to_gift_card_minor: int = 0

    @property
    def other_means_minor(self) -> int:
        """What the register gives back itself (cash, the bank card)."""
        return (
            self.money_back_minor
            - self.to_wallet_minor
            - self.to_gift_card_minor
            - self.kept_off_refund_minor
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "check_id": str(self.check_id),
            "lines": {str(index): quantity for index, quantity in self.lines.items()},
            "money_back_minor": self.money_back_minor,
            "to_wallet_minor": self.to_wallet_minor,
            "to_gift_card_minor": self.to_gift_card_minor,
            "kept_off_refund_minor": self.kept_off_refund_minor,
            "entry_id": str(self.entry_id) if self.entry_id else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckRefund:
        return cls(
            id=uuid.UUID(data["id"]),
            check_id=uuid.UUID(data["check_id"]),
            lines={int(index): quantity for index, quantity in data["lines"].items()},
            money_back_minor=data["money_back_minor"],
            to_wallet_minor=data["to_wallet_minor"],
            to_gift_card_minor=data.get("to_gift_card_minor", 0),
            kept_off_refund_minor=data["kept_off_refund_minor"],
            entry_id=uuid.UUID(data["entry_id"]) if data["entry_id"] else None,
            replayed=True,
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a check needs ready before its unit of work: accounts and programs."""

    lines: list[ResolvedLine]
    standings: list[Standing]
    member_accounts: dict[uuid.UUID, Account]
    issuance_accounts: dict[uuid.UUID, Account]
    wallet: WalletAccounts | None
    moment: datetime
    currency: Asset
    # The programs running for this check (an anonymous customer has no standings,
    # but the quote still says what joining would earn).
    programs: list[LoyaltyProgram]
    rules: RuleIndex
    merchant_id: uuid.UUID
    gift_card: PaymentCard | None = None
    # The merchant's zone (read with its store): the local day and month its
    # promotions' caps count in and its rules' time windows are read in.
    time_zone: str = DEFAULT_TIME_ZONE
    # An identified member's open credits and their accounts (checkout/credits.py).
    credits: credits.MemberCredits | None = None


@dataclass(frozen=True, slots=True)
class _Balances:
    """What the check's stored-value tenders hold."""

    wallet: int = 0
    gift_card: int = 0


class Checkout:
    """Quote, commit and refund register checks."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        units: UnitsOfWork,
        customers: CustomerService,
        loyalty: LoyaltyPrograms,
        wallets: WalletService,
        catalogue: CatalogueService | None = None,
        refund_cashier_max_minor: int = 50_000,
        gift_cards: GiftCardService | None = None,
        segments: Segments | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.ledger = ledger
        self.units = units
        self.customers = customers
        self.loyalty = loyalty
        self.wallets = wallets
        self.catalogue = catalogue
        self.refund_cashier_max_minor = refund_cashier_max_minor
        self.gift_cards = gift_cards
        self.segments = segments
        self._stores_seen: set[tuple[uuid.UUID, uuid.UUID]] = set()

    # Use cases -------------------------------------------------------------------

    def quote(self, caller: Principal, request: CheckRequest) -> Quote:
        """What the check would do; nothing is written."""
        caller.require("cashier")
        # Without a gift card (whose PIN check writes its attempt), the whole quote
        # is one read transaction: its look-ups and its pricing.
        with self.database.read() if request.gift_card is None else nullcontext():
            return self._quoted(caller, request)

    def _quoted(self, caller: Principal, request: CheckRequest) -> Quote:
        request, prepared = self._prepare(caller, request)
        with self.database.read() as connection:
            customer = self._customer(connection, caller.merchant_id, request, prepared)
            card = (
                gift_card_repository.card(
                    connection, caller.merchant_id, prepared.gift_card.card_id
                )
                if prepared.gift_card is not None
                else None
            )
            quote, _earned, _budgets = self._evaluate(
                connection, prepared, request, self._balances(prepared, connection, card), customer
            )
        return quote

    def commit(
        self, caller: Principal, request: CheckRequest, idempotency: Idempotency
    ) -> CommittedCheck:
        """Price the check again and post all it does as one journal entry."""
        caller.require("cashier")
        # Without a gift card, the look-ups before the unit of work (a stored answer,
        # the check's facts) are one read transaction.
        with self.database.read() if request.gift_card is None else nullcontext():
            replay = self.units.replay_if_stored(caller.merchant_id, idempotency, _replayed_check)
            if replay is not None:
                return replay
            request, prepared = self._prepare(caller, request)
        check_id = uuid.uuid4()

        def work(unit: UnitOfWork) -> CommittedCheck:
            if request.invoice_number:
                unit.claim_invoice_number(request.invoice_number, "check", check_id)
            if request.membership_id is not None:
                # A member's checks wait for each other: their caps, visits and
                # first purchase are counted on what the one before left.
                unit.lock(memberships, request.membership_id)
            live = _with_credits_now(unit, prepared)
            card = (
                self.gift_cards.tender.lock_card(unit, prepared.gift_card.card_id)
                if prepared.gift_card is not None and self.gift_cards is not None
                else None
            )
            customer = self._customer(unit.connection, unit.merchant_id, request, prepared)
            quote, earned, budgets = self._evaluate(
                unit.connection,
                live,
                request,
                self._balances(prepared, unit.connection, card),
                customer,
                unit=unit,
            )
            plans = [self._loyalty_plan(prepared, request, quote, budgets)]
            if card is not None:
                gift_card_plan, quote = self._gift_card_plan(unit, prepared, request, quote, card)
                plans.append(gift_card_plan)
            plans.extend(self._wallet_plans(prepared, quote))
            plans.append(self._check_rows(unit, request, check_id, quote, prepared.time_zone))
            plans.append(pending.pending_rows(check_id, request.membership_id, quote))
            # At the check's moment (an offline replay's own): as the quote saw them.
            credits.mark_used(
                unit.connection, unit.merchant_id, quote.effects, check_id, quote.occurred_at
            )
            plans.append(
                credits.plan(
                    live.credits,
                    quote.effects,
                    prepared.programs,
                    check_id,
                    quote.occurred_at,
                    request.invoice_number,
                )
            )
            if request.membership_id is not None and prepared.rules.counted:
                self._count_usage(unit, request.membership_id, prepared, quote, earned)
            if request.membership_id is not None:
                tiers.count_spend(
                    unit.connection,
                    unit.merchant_id,
                    request.membership_id,
                    prepared.programs,
                    prepared.moment,
                    prepared.time_zone,
                    quote.lines,
                )
            result = commit_plans(self.ledger, unit, plans, kind="check")
            committed = CommittedCheck(check_id, result.entry_id if result else None, quote)
            emit(
                unit.connection,
                unit.merchant_id,
                "check.committed",
                _check_json(committed),
                now=unit.now,
            )
            return committed

        return self.units.run(
            caller.merchant_id,
            "check_commit",
            work,
            idempotency=idempotency,
            encode=_check_json,
            replay=_replayed_check,
        )

    def replay_offline(
        self, caller: Principal, items: Sequence[tuple[CheckRequest, Idempotency]]
    ) -> list[BatchOutcome]:
        """An offline register's batch: each check committed on its own, idempotently.

        Each keeps its own moment (programs and their rules are those running
        then) and its own Idempotency-Key, so sending the batch again commits
        nothing twice. One check refused does not stop the others.
        """
        caller.require("cashier")
        outcomes = []
        for request, idempotency in items:
            assert idempotency.key is not None, "each check of a batch has its key"
            try:
                check = self.commit(caller, request, idempotency)
            except errors.DomainError as error:
                outcomes.append(
                    BatchOutcome(idempotency.key, "refused", None, error.code, error.message)
                )
                continue
            outcomes.append(
                BatchOutcome(
                    idempotency.key,
                    "replayed" if check.replayed else "committed",
                    check,
                    None,
                    None,
                )
            )
        return outcomes

    def refund(
        self,
        caller: Principal,
        check_id: uuid.UUID,
        *,
        lines: dict[int, int] | None,
        idempotency: Idempotency,
    ) -> CheckRefund:
        """Give back the whole check, or these quantities of its lines; reversals in one entry."""
        caller.require("cashier")
        return self.units.run(
            caller.merchant_id,
            "check_refund",
            lambda unit: self._refund_told(unit, caller, check_id, lines),
            idempotency=idempotency,
            encode=CheckRefund.as_json,
            replay=lambda _unit, stored: CheckRefund.from_json(stored.answer or {}),
        )

    def post_due_earnings(self, batch_size: int = pending.POSTING_BATCH_SIZE_MAX) -> int:
        """Post what checks earned whose return window has ended (the job); how many."""
        return pending.post_due_earnings(
            self.database, self.units, self.ledger, self.clock.now(), batch_size
        )

    def credit_birthdays(self) -> int:
        """Credit today's birthday bonuses (the job); how many members were credited."""
        return birthdays.credit_birthdays(
            self.database, self.units, self.ledger, self.loyalty, self.clock.now()
        )

    def expire_credits(self, batch_size: int = credits.EXPIRY_BATCH_SIZE_MAX) -> int:
        """Expire open credits past their date, their rest to breakage (the job); how many."""
        return credits.expire_due(
            self.database, self.units, self.ledger, self.clock.now(), batch_size
        )

    def list_credits(
        self,
        caller: Principal,
        membership_id: uuid.UUID,
        state: str | None = None,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[dict[str, Any]]:
        """A member's vouchers, next-purchase discounts and credit, the newest first."""
        caller.require("cashier")
        self.customers.require_membership(caller.merchant_id, membership_id)
        with self.database.read() as connection:
            return credits.list_credits(connection, caller.merchant_id, membership_id, state, page)

    def member_standing(self, caller: Principal, membership_id: uuid.UUID) -> list[MemberStanding]:
        """A member's standing in each program: balance, what is pending, the tier."""
        caller.require("cashier")
        self.customers.require_membership(caller.merchant_id, membership_id)
        programs = self.loyalty.programs_for_checks(caller.merchant_id)
        now = self.clock.now()
        with self.database.read() as connection:
            held = pending.member_pending(connection, caller.merchant_id, membership_id)
            reached = tiers.member_tiers(
                connection,
                caller.merchant_id,
                membership_id,
                programs,
                now,
                merchant_locale(connection, caller.merchant_id).time_zone,
            )
        opened = self.ledger.find_accounts(caller.merchant_id, "membership", membership_id)
        standings = []
        for program in programs:
            account = member_account_among(opened, program, membership_id)
            balance = self.ledger.balance(account) if account is not None else None
            standings.append(
                MemberStanding(
                    program,
                    balance.credit_balance if balance else 0,
                    balance.available if balance else 0,
                    tuple(held.get(program.id, ())),
                    reached.get(program.id),
                )
            )
        return standings

    def get_check(self, caller: Principal, check_id: uuid.UUID) -> dict[str, Any]:
        """A recorded check with its lines and effects."""
        caller.require("cashier")
        with self.database.read() as connection:
            row = (
                connection.execute(
                    select(checks).where(
                        checks.c.merchant_id == caller.merchant_id, checks.c.id == check_id
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise errors.NotFound("No such check.")
            line_rows, effect_rows = _lines_and_effects(connection, caller.merchant_id, check_id)
        return {
            **dict(row),
            "lines": [dict(line) for line in line_rows],
            "effects": [dict(effect) for effect in effect_rows],
        }

    def list_checks(
        self,
        caller: Principal,
        filters: CheckFilters,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[dict[str, Any]]:
        """Recorded checks, newest first, a page at a time (member or not, any filter)."""
        caller.require("cashier")
        query = select(checks).where(checks.c.merchant_id == caller.merchant_id)
        for column, value in (
            (checks.c.store_id, filters.store_id),
            (checks.c.terminal_id, filters.terminal_id),
            (checks.c.channel, filters.channel),
            (checks.c.membership_id, filters.membership_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if filters.occurred_from is not None:
            query = query.where(checks.c.occurred_at >= filters.occurred_from)
        if filters.occurred_to is not None:
            query = query.where(checks.c.occurred_at < filters.occurred_to)
        if filters.member is not None:
            query = query.where(
                checks.c.membership_id.isnot(None)
                if filters.member
                else checks.c.membership_id.is_(None)
            )
        if filters.program_id is not None:
            query = query.where(
                select(check_effects.c.ordinal)
                .where(
                    check_effects.c.merchant_id == checks.c.merchant_id,
                    check_effects.c.check_id == checks.c.id,
                    check_effects.c.program_id == filters.program_id,
                )
                .exists()
            )
        order = Order("checks", (checks.c.occurred_at, checks.c.id), descending=True)
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)

    # Refunds ----------------------------------------------------------------------------

    def _refund_told(
        self,
        unit: UnitOfWork,
        caller: Principal,
        check_id: uuid.UUID,
        requested: dict[int, int] | None,
    ) -> CheckRefund:
        """The refund, told to the merchant's webhook endpoints in the same unit of work."""
        refund = self._refund_in(unit, caller, check_id, requested)
        emit(unit.connection, unit.merchant_id, "check.refunded", refund.as_json(), now=unit.now)
        return refund

    def _refund_in(
        self,
        unit: UnitOfWork,
        caller: Principal,
        check_id: uuid.UUID,
        requested: dict[int, int] | None,
    ) -> CheckRefund:
        connection = unit.connection
        check = unit.lock(checks, check_id, missing="No such check.")
        line_rows, effect_rows = _lines_and_effects(connection, unit.merchant_id, check_id)
        states = [
            refunds.LineState(
                row["line_index"],
                row["quantity"],
                row["refunded_quantity"],
                row["net_minor"],
                row["loyalty_paid_minor"],
            )
            for row in line_rows
        ]
        before = {state.index: state.refunded_quantity for state in states}
        after = refunds.refunded_quantities(states, requested)
        money = refunds.money_back(states, after) - refunds.money_back(states, before)
        operations: list[Operation] = []
        available: dict[uuid.UUID, int] = {}
        kept_off = 0
        to_wallet = 0
        to_gift_card = 0
        # Vouchers, next-purchase discounts and credit the check issued or used.
        credited = credits.refund(
            connection, unit.merchant_id, effect_rows, states, before, after, unit.now
        )
        operations.extend(credited.operations)
        kept_off += credited.kept_off_minor
        # What the refund takes off capped promotions' counters: rule → (units, times).
        uncounted: dict[uuid.UUID, tuple[int, int]] = {}
        # What is given back first (spent points, a handed-in stamp card, wallet
        # payments), so that what is then taken back may count on it.
        giving_first = sorted(effect_rows, key=lambda row: row["kind"] in ("earn", "stamps"))
        # Earnings still held for a return window are voided, not taken back.
        held = pending.pending_of(connection, unit.merchant_id, check_id)
        voided: dict[uuid.UUID, int] = {}
        for row in giving_first:
            effect = refunds.EffectState(
                row["ordinal"],
                row["kind"],
                row["units"],
                tuple(tuple(pair) for pair in row["lines"]),
            )
            due = refunds.reversed_units(effect, states, after) - refunds.reversed_units(
                effect, states, before
            )
            if due <= 0 or row["transfer_id"] is None or row["contributor"] == credits.CONTRIBUTOR:
                continue
            original = self.ledger.transfer_in(connection, unit.merchant_id, row["transfer_id"])
            if row["kind"] == "earn" and _is_uuid(row["rule_id"]):
                units, times = uncounted.get(uuid.UUID(row["rule_id"]), (0, 0))
                whole = refunds.reversed_units(effect, states, after) == effect.units
                uncounted[uuid.UUID(row["rule_id"])] = (units + due, max(times, int(whole)))
            earning_held = held.get(row["transfer_id"])
            if earning_held is not None and earning_held.status == "pending":
                voided[row["transfer_id"]] = voided.get(row["transfer_id"], 0) + due
                continue
            if row["kind"] in ("earn", "stamps"):
                taken, shortfall = self._take_back(unit, original.credit_account_id, due, available)
                if taken:
                    operations.append(
                        Reverse(
                            # Held then posted: the post is what credited the member.
                            earning_held.posted_transfer_id
                            if earning_held is not None and earning_held.posted_transfer_id
                            else row["transfer_id"],
                            taken,
                            code=f"check_refund_{row['kind']}",
                        )
                    )
                kept_off += self._value_of(unit, row, shortfall)
                continue
            operations.append(Reverse(row["transfer_id"], due, code=f"check_refund_{row['kind']}"))
            # The reversal credits the account the effect debited.
            given_to = original.debit_account_id
            available[given_to] = self._available(unit, given_to, available) + due
            if row["kind"] == "payment" and row["contributor"] == "gift_card":
                to_gift_card += due
            elif row["kind"] == "payment":
                to_wallet += due
        if uncounted and check["membership_id"] is not None:
            take_back_usage(
                connection,
                unit.merchant_id,
                check["membership_id"],
                check["occurred_at"],
                merchant_locale(connection, unit.merchant_id).time_zone,
                given=uncounted,
            )
        if check["membership_id"] is not None and money > 0:
            tiers.uncount_spend(
                connection,
                unit.merchant_id,
                check["membership_id"],
                self._tiered_programs_of(unit.merchant_id, check),
                check["occurred_at"],
                merchant_locale(connection, unit.merchant_id).time_zone,
                money,
            )
        refund_id = uuid.uuid4()
        operations = _one_reversal_per_transfer(operations)
        operations += pending.void_refunded(unit, self.ledger, held, voided)
        result = (
            self.ledger.post_entry(unit.merchant_id, operations, kind="check_refund", unit=unit)
            if operations
            else None
        )
        if money > self.refund_cashier_max_minor:
            caller.require("manager")
        refunded_now = {
            index: after[index] - before[index] for index in after if after[index] != before[index]
        }
        self._record_refund(
            unit,
            caller,
            check,
            refund_id,
            refunded_now,
            after,
            money,
            result.entry_id if result else None,
            quantities={row["line_index"]: row["quantity"] for row in line_rows},
        )
        return CheckRefund(
            id=refund_id,
            check_id=check_id,
            lines=refunded_now,
            money_back_minor=money,
            to_wallet_minor=to_wallet,
            to_gift_card_minor=to_gift_card,
            kept_off_refund_minor=min(kept_off, money - to_wallet - to_gift_card),
            entry_id=result.entry_id if result else None,
        )

    def _tiered_programs_of(self, merchant_id: uuid.UUID, check: Any) -> list[LoyaltyProgram]:
        """The programs with tiers that counted the check's spend (running at its moment)."""
        return [
            program
            for program in self.loyalty.programs_for_checks(merchant_id)
            if program.tiers is not None
            and program.currency == check["currency"]
            and program.running_at(check["occurred_at"])
        ]

    def _take_back(
        self, unit: UnitOfWork, account_id: uuid.UUID, due: int, available: dict[uuid.UUID, int]
    ) -> tuple[int, int]:
        """Take back what the member still has of `due`; the rest is the shortfall."""
        taken = min(due, self._available(unit, account_id, available))
        available[account_id] -= taken
        return taken, due - taken

    def _available(
        self, unit: UnitOfWork, account_id: uuid.UUID, available: dict[uuid.UUID, int]
    ) -> int:
        """An account's available balance, with what this refund moved so far."""
        if account_id not in available:
            account = self.ledger.get_account(unit.merchant_id, account_id, unit.connection)
            available[account_id] = self.ledger.balance(account, unit.connection).available
        return available[account_id]

    def _value_of(self, unit: UnitOfWork, row: Any, units: int) -> int:
        """What `units` of the effect's program are worth in the check's currency."""
        if units == 0 or row["program_id"] is None:
            return 0
        program = self.loyalty.program(unit.merchant_id, row["program_id"], unit.connection)
        return program.spending.value_of(units) if program.spending is not None else 0

    @staticmethod
    def _record_refund(
        unit: UnitOfWork,
        caller: Principal,
        check: Any,
        refund_id: uuid.UUID,
        refunded_now: dict[int, int],
        after: dict[int, int],
        money: int,
        entry_id: uuid.UUID | None,
        *,
        quantities: dict[int, int],
    ) -> None:
        connection = unit.connection
        connection.execute(
            insert(check_refunds).values(
                merchant_id=unit.merchant_id,
                id=refund_id,
                check_id=check["id"],
                lines={str(index): quantity for index, quantity in refunded_now.items()},
                amount_minor=money,
                entry_id=entry_id,
                actor=caller.actor,
                created_at=unit.now,
            )
        )
        for index in refunded_now:
            connection.execute(
                update(check_lines)
                .where(
                    check_lines.c.merchant_id == unit.merchant_id,
                    check_lines.c.check_id == check["id"],
                    check_lines.c.line_index == index,
                )
                .values(refunded_quantity=after[index])
            )
        whole = all(after[index] == quantities[index] for index in quantities)
        connection.execute(
            update(checks)
            .where(
                checks.c.merchant_id == unit.merchant_id,
                checks.c.id == check["id"],
            )
            .values(
                refunded_minor=checks.c.refunded_minor + money,
                status="refunded" if whole else "partly_refunded",
            )
        )

    # Preparation (outside the unit of work) ----------------------------------------

    def _prepare(self, caller: Principal, request: CheckRequest) -> tuple[CheckRequest, _Prepared]:
        """The check's member named by id, and what pricing it needs from the database.

        Its look-ups share one read transaction; the gift card's PIN is checked
        after it (the check counts an attempt and writes its outcome).
        """
        if request.channel not in CHANNELS:
            raise errors.InvalidInput(f"A check's channel is one of {', '.join(CHANNELS)}.")
        with self.database.read():
            request = self._identified(caller, request)
            prepared = self._read_facts(caller, request)
        return request, replace(prepared, gift_card=self._payment_card(caller, request))

    def _read_facts(self, caller: Principal, request: CheckRequest) -> _Prepared:
        moment = request.occurred_at or self.clock.now()
        self._require_store(caller, request.store_id)
        # The merchant's zone and the versions of its rules and category tree,
        # read once per check in the quote's read transaction (a merchant may
        # change its zone, so it is not remembered like its stores).
        with self.database.read() as connection:
            context = check_context(connection, caller.merchant_id)
        time_zone = context.time_zone
        lines = self._resolve(caller.merchant_id, request, context.categories_version)
        standings: list[Standing] = []
        member_accounts: dict[uuid.UUID, Account] = {}
        issuance_accounts: dict[uuid.UUID, Account] = {}
        wallet = None
        rules, programs = self.loyalty.for_checks(caller.merchant_id, context.rules_version)
        running = [
            program
            for program in programs
            if program.currency == request.currency and program.running_at(moment)
        ]
        if request.membership_id is not None:
            if self.customers.require_membership(caller.merchant_id, request.membership_id) == (
                "blocked"
            ):
                raise errors.CustomerBlocked()
            for program in running:
                account = self.loyalty.member_account(program, request.membership_id)
                member_accounts[program.id] = account
                issuance_accounts[program.id] = self.loyalty.issuance_account(program)
                standings.append(Standing(program, self.ledger.balance(account).available))
            if request.wallet is not None:
                wallet = self.wallets.payment_accounts(
                    caller.merchant_id, request.membership_id, request.currency
                )
        currency = self.loyalty.merchants.assets_by_code([request.currency]).get(request.currency)
        if currency is None:
            raise errors.AssetNotFound()
        member_credits = (
            credits.prepare(
                self.database,
                self.ledger,
                caller.merchant_id,
                request.membership_id,
                running,
                request.currency,
                moment,
                {program_id: account.id for program_id, account in member_accounts.items()},
            )
            if request.membership_id is not None
            else None
        )
        return _Prepared(
            lines,
            standings,
            member_accounts,
            issuance_accounts,
            wallet,
            moment,
            currency,
            running,
            rules,
            caller.merchant_id,
            None,
            time_zone=time_zone,
            credits=member_credits,
        )

    def _payment_card(self, caller: Principal, request: CheckRequest) -> PaymentCard | None:
        """The gift card that pays part of the check, its number and PIN checked (counted)."""
        if request.gift_card is None:
            return None
        if self.gift_cards is None:
            raise errors.InvalidInput("Gift cards are not offered here.")
        card = self.gift_cards.payment_card(
            caller, number=request.gift_card.number, pin=request.gift_card.pin
        )
        if card.program.asset_code != request.currency:
            raise errors.InvalidInput("The gift card is in another currency than the check.")
        return card

    def _identified(self, caller: Principal, request: CheckRequest) -> CheckRequest:
        """The request with its member named by id, however the register named them."""
        if request.phone is not None:
            membership_id = self.customers.membership_by_phone(caller.merchant_id, request.phone)
        elif request.member_token is not None:
            membership_id = self.customers.membership_by_token(
                caller.merchant_id, request.member_token
            )
        else:
            return request
        return replace(request, membership_id=membership_id, phone=None, member_token=None)

    def _require_store(self, caller: Principal, store_id: uuid.UUID) -> None:
        """The store is the merchant's (and the register key's own, if it has one)."""
        if caller.store_id is not None and caller.store_id != store_id:
            raise errors.Forbidden("A register records checks of its own store.")
        known = (caller.merchant_id, store_id)
        if known in self._stores_seen:  # a store is never deleted: once seen, it exists
            return
        with self.database.read() as connection:
            merchant_row(connection, stores, caller.merchant_id, store_id, missing="No such store.")
        self._stores_seen.add(known)

    def _resolve(
        self, merchant_id: uuid.UUID, request: CheckRequest, categories_version: int
    ) -> list[ResolvedLine]:
        """Each line with what the catalogue knows of its SKU (a deactivated product's line
        is treated as uncatalogued: it earns by the check-wide rules only)."""
        known: dict[str, ProductFacts] = {}
        if self.catalogue is not None:
            known = self.catalogue.resolve_lines(
                merchant_id, [line.sku for line in request.lines], categories_version
            )
        resolved = []
        for index, line in enumerate(request.lines):
            facts = known.get(line.sku)
            if facts is None or not facts.product.active:
                resolved.append(ResolvedLine(index=index, request=line))
                continue
            resolved.append(
                ResolvedLine(
                    index=index,
                    request=line,
                    product_id=facts.product.id,
                    category_ids=frozenset(facts.category_ids),
                    members_only=facts.product.members_only,
                )
            )
        return resolved

    def _balances(
        self, prepared: _Prepared, connection: Connection, card: CardRow | None
    ) -> _Balances:
        """What the stored-value tenders of the check hold (read under their locks at commit)."""
        wallet = (
            self.ledger.balance(prepared.wallet.wallet, connection).available
            if prepared.wallet is not None
            else 0
        )
        gift_card = (
            self.gift_cards.tender.accounts.balance(card, connection).available
            if card is not None and self.gift_cards is not None
            else 0
        )
        return _Balances(wallet, gift_card)

    # Pricing (pure, given the prepared facts) ----------------------------------------

    def _evaluate(
        self,
        connection: Connection,
        prepared: _Prepared,
        request: CheckRequest,
        balances: _Balances,
        customer: CustomerFacts,
        *,
        unit: UnitOfWork | None = None,
    ) -> tuple[Quote, earning.Earned, dict[uuid.UUID, Budget]]:
        """Price the check; awards drawing on a budget are cut to what is left of it.

        In a commit (`unit`) the budgets' rules are locked first, so parallel
        checks drawing on one budget take turns and each sees what the last left.
        """
        quote, earned = self._price(prepared, request, balances, customer)
        if not earned.budget_draws:
            return quote, earned, {}
        drawn = sorted(earned.budget_draws)
        if unit is not None:
            unit.lock_many(loyalty_rules, drawn, keys_stay=True)
        budgets = budgets_of(connection, prepared.merchant_id, drawn)
        left = {rule_id: budget.left_units for rule_id, budget in budgets.items()}
        if any(draw > left.get(rule_id, 0) for rule_id, draw in earned.budget_draws.items()):
            quote, earned = self._price(prepared, request, balances, customer, left)
        return quote, earned, budgets

    def _customer(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        request: CheckRequest,
        prepared: _Prepared,
    ) -> CustomerFacts:
        if request.membership_id is None:
            return ANONYMOUS
        facts = member_facts(
            connection,
            merchant_id,
            request.membership_id,
            prepared.moment,
            time_zone=prepared.time_zone,
            counted=bool(prepared.rules.counted),
        )
        facts = tiers.with_standings(
            facts,
            connection,
            merchant_id,
            request.membership_id,
            prepared.programs,
            prepared.moment,
            prepared.time_zone,
        )
        named = frozenset(prepared.rules.by_segment)
        if not named or self.segments is None:
            return facts
        # Only the segments the merchant's rules name are asked about.
        return replace(
            facts,
            segment_ids=frozenset(
                str(segment_id)
                for segment_id in self.segments.of_member(
                    connection,
                    merchant_id,
                    request.membership_id,
                    frozenset(uuid.UUID(segment_id) for segment_id in named),
                )
            ),
        )

    def _count_usage(
        self,
        unit: UnitOfWork,
        membership_id: uuid.UUID,
        prepared: _Prepared,
        quote: Quote,
        earned: earning.Earned,
    ) -> None:
        """Add what the capped promotions gave on this check to the member's counters."""
        given: dict[uuid.UUID, tuple[int, int]] = {}
        for effect in quote.effects:
            if effect.kind == "earn" and effect.rule_id in prepared.rules.counted:
                rule_id = uuid.UUID(effect.rule_id)
                units, times = given.get(rule_id, (0, 0))
                given[rule_id] = (units + effect.units, 1)
        record_usage(
            unit.connection,
            unit.merchant_id,
            membership_id,
            prepared.moment,
            prepared.time_zone,
            given=given,
            goods=earned.goods,
        )

    def _price(
        self,
        prepared: _Prepared,
        request: CheckRequest,
        balances: _Balances,
        customer: CustomerFacts,
        budgets_left: dict[uuid.UUID, int] | None = None,
    ) -> tuple[Quote, earning.Earned]:
        priced = priced_lines(prepared.lines)
        promoted = earning.stamp_promotions(
            prepared.lines,
            priced,
            prepared.standings,
            index=prepared.rules,
            store_id=request.store_id,
            terminal_id=request.terminal_id,
            channel=request.channel,
            currency=prepared.currency,
            moment=prepared.moment,
            customer=customer,
            time_zone=prepared.time_zone,
        )
        priced, stamp_effects = stamps.stamp_cards(
            prepared.lines, priced, prepared.standings, promoted
        )
        priced, kept_rewards, offered = credits.next_purchase(
            prepared.lines, priced, prepared.credits, prepared.programs
        )
        priced, spendables, spends = spend_loyalty(
            prepared.lines, priced, prepared.standings, request.loyalty_uses
        )
        priced, credits_paid, paying = credits.pay(priced, prepared.credits, request)
        # The tier this check earns at counts its own spend (checkout/tiers.py).
        customer = tiers.with_check(customer, prepared.programs, priced)
        earning_standings = prepared.standings or [
            Standing(program, 0) for program in prepared.programs
        ]
        earned = earning.earned(
            prepared.lines,
            priced,
            earning_standings,
            index=prepared.rules,
            store_id=request.store_id,
            terminal_id=request.terminal_id,
            channel=request.channel,
            currency=prepared.currency,
            moment=prepared.moment,
            customer=customer,
            budgets_left=budgets_left,
            time_zone=prepared.time_zone,
        )
        earns = pending.with_return_window(
            _sharing_transfers(earned.effects), prepared.programs, prepared.moment
        )
        payments: list[Effect] = []
        if request.gift_card is not None:
            payment = wallet_payment(
                priced,
                balances.gift_card,
                request.gift_card.amount_minor,
                request.currency,
                contributor="gift_card",
            )
            if payment is not None:
                payments.append(payment)
        if request.wallet is not None:
            payment = wallet_payment(
                priced, balances.wallet, request.wallet.amount_minor, request.currency, payments
            )
            if payment is not None:
                payments.append(payment)
        issued = credits.issued(
            [*stamp_effects, *spends, *earns],
            prepared.programs,
            prepared.credits,
            prepared.moment,
            {standing.program.id: standing.balance_units for standing in prepared.standings},
        )
        quote = Quote(
            lines=tuple(priced),
            effects=(
                *stamp_effects,
                *kept_rewards,
                *spends,
                *credits_paid,
                *earns,
                *issued,
                *payments,
            ),
            spendable=tuple(spendables),
            near_misses=tuple(earned.near_misses),
            occurred_at=prepared.moment,
            credits=(*offered, *paying),
        )
        return quote, earned

    # Plans ------------------------------------------------------------------------------

    def _loyalty_plan(
        self,
        prepared: _Prepared,
        request: CheckRequest,
        quote: Quote,
        budgets: dict[uuid.UUID, Budget],
    ) -> Plan:
        """One transfer per program, kind, expiry and budget, however many rules gave.

        The effects that share a transfer (several promotions of one program) name
        it alike, and their units add up to it; a refund reverses each effect's
        part of it. A promotion with a budget is paid from its budget's account.
        """
        amounts: dict[uuid.UUID, int] = {}
        firsts: dict[uuid.UUID, Effect] = {}
        for effect in quote.effects:
            if effect.contributor == "loyalty":
                amounts[effect.transfer_id] = amounts.get(effect.transfer_id, 0) + effect.units
                firsts.setdefault(effect.transfer_id, effect)
        operations: list[Operation] = []
        for transfer_id, effect in firsts.items():
            assert effect.program_id is not None
            member = prepared.member_accounts[effect.program_id]
            issuance = prepared.issuance_accounts[effect.program_id].id
            if effect.budget_id is not None:
                issuance = budgets[effect.budget_id].account_id
            # Points or kitty paid, or a full stamp card handed in: from the member.
            paid = effect.kind in ("spend", "reward")
            if effect.pending_until is not None and not paid:
                # Earned in a return window: held until it ends (checkout/pending.py).
                operations.append(
                    pending.hold_for(
                        effect, issuance, member.id, amounts[transfer_id], request.invoice_number
                    )
                )
                continue
            operations.append(
                Transfer(
                    member.id if paid else issuance,
                    issuance if paid else member.id,
                    amounts[transfer_id],
                    f"loyalty_{effect.kind}",
                    request.invoice_number,
                    lot_expires_at=None if paid else effect.expires_at,
                    id=transfer_id,
                )
            )
        return Plan("loyalty", tuple(operations))

    def _gift_card_plan(
        self,
        unit: UnitOfWork,
        prepared: _Prepared,
        request: CheckRequest,
        quote: Quote,
        card: CardRow,
    ) -> tuple[Plan, Quote]:
        """The gift card's spend for its payment effect, which is named by the spend's transfer.

        The card's program decides as for any spend (its state, amounts, daily
        limits, an invoice number if it asks for one: the check's, claimed by the
        check in this unit). A check the card pays nothing of spends nothing.
        """
        assert prepared.gift_card is not None and self.gift_cards is not None
        effects = list(quote.effects)
        for position, effect in enumerate(effects):
            if effect.contributor != "gift_card":
                continue
            plan = self.gift_cards.tender.plan_spend(
                unit,
                card,
                prepared.gift_card.program,
                effect.units,
                accounts=prepared.gift_card.accounts,
                actor=prepared.gift_card.actor,
                invoice_number=request.invoice_number,
                invoice_claimed=True,
                reference=f"check {request.invoice_number or ''}".strip(),
            )
            transfer = plan.operations[0]
            effects[position] = replace(effect, transfer_id=transfer.id)
            return plan, replace(quote, effects=tuple(effects))
        return Plan("gift_card"), quote

    def _wallet_plans(self, prepared: _Prepared, quote: Quote) -> list[Plan]:
        plans = []
        for effect in quote.effects:
            if effect.contributor == "wallet":
                assert prepared.wallet is not None
                plan = self.wallets.plan_payment(prepared.wallet, effect.units, None)
                transfer = plan.operations[0]
                assert isinstance(transfer, Transfer)
                plans.append(
                    Plan(
                        "wallet",
                        (
                            Transfer(
                                transfer.debit_account_id,
                                transfer.credit_account_id,
                                transfer.amount,
                                transfer.code,
                                transfer.reference,
                                id=effect.transfer_id,
                            ),
                        ),
                        amount=effect.units,
                    )
                )
        return plans

    def _check_rows(
        self,
        unit: UnitOfWork,
        request: CheckRequest,
        check_id: uuid.UUID,
        quote: Quote,
        time_zone: str,
    ) -> Plan:
        moves_value = any(effect.units for effect in quote.effects)
        rows = [
            RowInsert(
                checks,
                {
                    "id": check_id,
                    "store_id": request.store_id,
                    "terminal_id": request.terminal_id,
                    "channel": request.channel,
                    "invoice_number": request.invoice_number,
                    "membership_id": request.membership_id,
                    "currency": request.currency,
                    "gross_minor": quote.gross_minor,
                    "discount_minor": quote.discount_minor,
                    "loyalty_paid_minor": quote.loyalty_paid_minor,
                    "tender_paid_minor": quote.tender_paid_minor,
                    "due_minor": quote.due_minor,
                    "refunded_minor": 0,
                    "status": "committed",
                    "occurred_at": quote.occurred_at,
                    "occurred_on": local_day(quote.occurred_at, time_zone),
                    "entry_id": unit.entry_id if moves_value else None,
                    "created_at": unit.now,
                },
            )
        ]
        rows += [
            RowInsert(
                check_lines,
                {
                    "check_id": check_id,
                    "line_index": line.index,
                    "sku": line.sku,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "gross_minor": line.gross_minor,
                    "discount_minor": line.discount_minor,
                    "loyalty_paid_minor": line.loyalty_paid_minor,
                    "net_minor": line.net_minor,
                    "refunded_quantity": 0,
                },
            )
            for line in quote.lines
        ]
        rows += [
            RowInsert(
                check_effects,
                {
                    "check_id": check_id,
                    "ordinal": ordinal,
                    "contributor": effect.contributor,
                    "kind": effect.kind,
                    "program_id": effect.program_id,
                    "rule_id": effect.rule_id,
                    "asset_code": effect.asset_code,
                    "units": effect.units,
                    "value_minor": effect.value_minor,
                    "transfer_id": effect.transfer_id,
                    "lines": [[share.line_index, share.amount] for share in effect.lines],
                    "reason": effect.reason[:300],
                },
            )
            for ordinal, effect in enumerate(quote.effects)
        ]
        return Plan("check", row_changes=tuple(rows))


def _with_credits_now(unit: UnitOfWork, prepared: _Prepared) -> _Prepared:
    """The member's usable credits read again in the commit, under the member's lock."""
    if prepared.credits is None:
        return prepared
    return replace(
        prepared,
        credits=credits.reread(
            unit.connection, unit.merchant_id, prepared.credits, prepared.moment
        ),
    )


def _is_uuid(value: str | None) -> bool:
    """A promotion's rule id (a program's base rate is named `base:…`)."""
    try:
        uuid.UUID(value or "")
    except ValueError:
        return False
    return True


def _one_reversal_per_transfer(operations: list[Operation]) -> list[Operation]:
    """Reversals of one transfer (effects that shared it) joined into one."""
    joined: dict[uuid.UUID, Reverse] = {}
    for operation in operations:
        assert isinstance(operation, Reverse) and operation.amount is not None
        earlier = joined.get(operation.reverses_id)
        joined[operation.reverses_id] = (
            operation
            if earlier is None
            else replace(earlier, amount=earlier.amount + operation.amount)
        )
    return list(joined.values())


def _sharing_transfers(effects: list[Effect]) -> list[Effect]:
    """Earnings of one program, kind and expiry share one transfer (the first one's id)."""
    shared: dict[tuple[Any, ...], uuid.UUID] = {}
    out = []
    for effect in effects:
        group = (effect.program_id, effect.kind, effect.expires_at, effect.budget_id)
        transfer_id = shared.setdefault(group, effect.transfer_id)
        out.append(replace(effect, transfer_id=transfer_id))
    return out


def _lines_and_effects(
    connection: Connection, merchant_id: uuid.UUID, check_id: uuid.UUID
) -> tuple[list[Any], list[Any]]:
    """A recorded check's lines (by index) and effects (in the order they were made)."""
    lines = (
        connection.execute(
            select(check_lines)
            .where(check_lines.c.merchant_id == merchant_id, check_lines.c.check_id == check_id)
            .order_by(check_lines.c.line_index)
        )
        .mappings()
        .all()
    )
    effects = (
        connection.execute(
            select(check_effects)
            .where(check_effects.c.merchant_id == merchant_id, check_effects.c.check_id == check_id)
            .order_by(check_effects.c.ordinal)
        )
        .mappings()
        .all()
    )
    return list(lines), list(effects)


# Answers as JSON (what an Idempotency-Key's record keeps) ---------------------------------


def _check_json(check: CommittedCheck) -> dict[str, Any]:
    return {
        "id": str(check.id),
        "entry_id": str(check.entry_id) if check.entry_id else None,
        "quote": quote_json(check.quote),
    }


def _replayed_check(_unit: UnitOfWork, stored: StoredAnswer) -> CommittedCheck:
    assert stored.answer is not None
    answer = stored.answer
    return CommittedCheck(
        id=uuid.UUID(answer["id"]),
        entry_id=uuid.UUID(answer["entry_id"]) if answer["entry_id"] else None,
        quote=quote_from_json(answer["quote"]),
        replayed=True,
    )


def quote_json(quote: Quote) -> dict[str, Any]:
    return {
        "occurred_at": quote.occurred_at.isoformat(),
        "lines": [
            {
                "index": line.index,
                "sku": line.sku,
                "product_id": str(line.product_id) if line.product_id else None,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
                "gross_minor": line.gross_minor,
                "discount_minor": line.discount_minor,
                "loyalty_paid_minor": line.loyalty_paid_minor,
            }
            for line in quote.lines
        ],
        "effects": [
            {
                "contributor": effect.contributor,
                "kind": effect.kind,
                "asset_code": effect.asset_code,
                "units": effect.units,
                "value_minor": effect.value_minor,
                "reason": effect.reason,
                "program_id": str(effect.program_id) if effect.program_id else None,
                "rule_id": effect.rule_id,
                "transfer_id": str(effect.transfer_id),
                "lines": [[share.line_index, share.amount] for share in effect.lines],
                "expires_at": effect.expires_at.isoformat() if effect.expires_at else None,
                "pending_until": effect.pending_until.isoformat() if effect.pending_until else None,
            }
            for effect in quote.effects
        ],
        "spendable": [
            {
                "program_id": str(item.program_id),
                "balance_units": item.balance_units,
                "units": item.units,
                "value_minor": item.value_minor,
                "limited_by": item.limited_by,
            }
            for item in quote.spendable
        ],
        "near_misses": [
            {
                "program_id": str(miss.program_id) if miss.program_id else None,
                "rule_id": miss.rule_id,
                "message": miss.message,
            }
            for miss in quote.near_misses
        ],
        "credits": [credits.offer_json(offer) for offer in quote.credits],
    }


def quote_from_json(data: dict[str, Any]) -> Quote:
    from cagnotte.checkout.model import NearMiss, Spendable

    def maybe_uuid(value: str | None) -> uuid.UUID | None:
        return uuid.UUID(value) if value else None

    return Quote(
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        lines=tuple(
            PricedLine(
                index=line["index"],
                sku=line["sku"],
                product_id=maybe_uuid(line["product_id"]),
                quantity=line["quantity"],
                unit_price_minor=line["unit_price_minor"],
                gross_minor=line["gross_minor"],
                discount_minor=line["discount_minor"],
                loyalty_paid_minor=line["loyalty_paid_minor"],
            )
            for line in data["lines"]
        ),
        effects=tuple(
            Effect(
                contributor=effect["contributor"],
                kind=effect["kind"],
                asset_code=effect["asset_code"],
                units=effect["units"],
                value_minor=effect["value_minor"],
                reason=effect["reason"],
                program_id=maybe_uuid(effect["program_id"]),
                rule_id=effect["rule_id"],
                transfer_id=uuid.UUID(effect["transfer_id"]),
                lines=tuple(LineShare(index, amount) for index, amount in effect["lines"]),
                expires_at=datetime.fromisoformat(effect["expires_at"])
                if effect["expires_at"]
                else None,
                pending_until=datetime.fromisoformat(effect["pending_until"])
                if effect.get("pending_until")
                else None,
            )
            for effect in data["effects"]
        ),
        spendable=tuple(
            Spendable(
                program_id=uuid.UUID(item["program_id"]),
                balance_units=item["balance_units"],
                units=item["units"],
                value_minor=item["value_minor"],
                limited_by=item["limited_by"],
            )
            for item in data["spendable"]
        ),
        near_misses=tuple(
            NearMiss(maybe_uuid(miss["program_id"]), miss["rule_id"], miss["message"])
            for miss in data["near_misses"]
        ),
        credits=tuple(credits.offer_from_json(offer) for offer in data.get("credits", ())),
    )
