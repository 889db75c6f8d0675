"""Property: whatever checks and refunds a member goes through, nothing is kept or lost.

A hypothesis state machine on both databases commits checks (some paying with
points) and refunds random lines of them. After every step the ledger holds
(debits equal credits per asset, no balance below zero) and no check is
refunded beyond itself. At the end every check is refunded in full: the member
then holds exactly the points whose value was kept off the money returned (the
points earned on refunded purchases that the member had already spent), so a
customer never keeps points for a refunded purchase and no point is lost track of.

The same machine runs with a 14-day return window, where a step may also let
the window end (the clock moves on and the job posts what is due): refunds then
void holds or take back posted points, and at the end nothing is left pending.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.checkout.model import CheckRequest, LineRequest, LoyaltyUse
from cagnotte.checkout.tables import check_lines, checks
from cagnotte.db.tables import account_balances, accounts
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.programs.loyalty.program import ProgramKind
from tests.e2e.api.conftest import enrol

POINT_VALUE_MINOR = 10  # the points program's default: 1 point = 0.10 CZK

lines = st.lists(
    st.builds(
        LineRequest,
        sku=st.sampled_from(["A", "B", "C"]),
        quantity=st.integers(1, 4),
        unit_price_minor=st.integers(0, 40_000),
    ),
    min_size=1,
    max_size=4,
).map(tuple)


def run_machine(services, client, merchant, clock=None, pending_days: int = 0) -> None:
    register = services.merchants.authenticate_key(merchant.register["Authorization"].split()[1])
    manager = services.merchants.authenticate_key(merchant.manager["Authorization"].split()[1])
    program = services.loyalty.create(
        manager,
        kind=ProgramKind.POINTS,
        name="Points",
        currency="CZK",
        settings={"pending_days": pending_days},
    )
    phones = iter(f"+4206017{n:05d}" for n in range(100_000))

    class Checks(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            member = enrol(client, merchant, next(phones))
            self.member_id = uuid.UUID(member["id"])
            self.account = services.loyalty.member_account(program, self.member_id)
            self.checks: list[uuid.UUID] = []
            self.kept_off_minor = 0

        def _commit(self, request_lines, use: int | None) -> None:
            request = CheckRequest(
                store_id=register.store_id,
                terminal_id=register.terminal_id,
                channel="register",
                currency="CZK",
                lines=request_lines,
                membership_id=self.member_id,
                loyalty_uses=(LoyaltyUse(program.id, use),) if use else (),
            )
            try:
                check = services.checkout.commit(
                    register, request, Idempotency(str(uuid.uuid4()), "h")
                )
            except errors.InsufficientFunds:
                return
            self.checks.append(check.id)

        @rule(request_lines=lines)
        def buy(self, request_lines) -> None:
            self._commit(request_lines, None)

        @rule(request_lines=lines, use=st.integers(1, 300))
        def buy_with_points(self, request_lines, use) -> None:
            self._commit(request_lines, use)

        @precondition(lambda self: pending_days > 0)
        @rule()
        def the_window_ends(self) -> None:
            assert clock is not None
            clock.advance(timedelta(days=pending_days))
            services.checkout.post_due_earnings()

        @precondition(lambda self: self.checks)
        @rule(data=st.data())
        def refund_some(self, data) -> None:
            check_id = data.draw(st.sampled_from(self.checks))
            with services.database.read() as connection:
                rows = (
                    connection.execute(
                        select(check_lines).where(check_lines.c.check_id == check_id)
                    )
                    .mappings()
                    .all()
                )
            left = {row["line_index"]: row["quantity"] - row["refunded_quantity"] for row in rows}
            open_lines = [index for index, quantity in left.items() if quantity]
            if not open_lines:
                return
            index = data.draw(st.sampled_from(open_lines))
            quantity = data.draw(st.integers(1, left[index]))
            self._refund(check_id, {index: quantity})

        def _refund(self, check_id, lines_wanted) -> None:
            # A manager: some refunds are above what a register may give back alone.
            refund = services.checkout.refund(
                manager,
                check_id,
                lines=lines_wanted,
                idempotency=Idempotency(str(uuid.uuid4()), "h"),
            )
            self.kept_off_minor += refund.kept_off_refund_minor

        @invariant()
        def the_ledger_holds(self) -> None:
            with services.database.read() as connection:
                totals = connection.execute(
                    select(
                        accounts.c.asset_code,
                        func.sum(account_balances.c.debits_posted),
                        func.sum(account_balances.c.credits_posted),
                    )
                    .join(
                        accounts,
                        (accounts.c.merchant_id == account_balances.c.merchant_id)
                        & (accounts.c.id == account_balances.c.account_id),
                    )
                    .group_by(accounts.c.asset_code)
                ).all()
                over = connection.execute(
                    select(func.count())
                    .select_from(checks)
                    .where(checks.c.refunded_minor > checks.c.gross_minor - checks.c.discount_minor)
                ).scalar_one()
            assert all(int(debits) == int(credits) for _asset, debits, credits in totals)
            assert over == 0
            assert services.ledger.balance(self.account).credit_balance >= 0

        def teardown(self) -> None:
            for check_id in self.checks:
                with contextlib.suppress(errors.RefundExceedsCheck):  # refunded in full already
                    self._refund(check_id, None)
            assert services.ledger.balance(self.account).credits_pending == 0
            balance = services.ledger.balance(self.account).credit_balance
            assert balance * POINT_VALUE_MINOR == self.kept_off_minor, (
                balance,
                self.kept_off_minor,
            )

    Checks.TestCase.settings = settings(
        max_examples=int(os.environ.get("CAGNOTTE_CHECK_EXAMPLES", "8")),
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Checks.TestCase().runTest()


def test_checks_and_refunds_never_keep_or_lose_points(services, client, merchant):
    run_machine(services, client, merchant)


def test_with_a_return_window_refunds_never_leave_points_earned_on_refunded_amounts(
    services, client, merchant, clock
):
    run_machine(services, client, merchant, clock, pending_days=14)
