"""The customer page's loyalty part: each program's balance, stamp card, expiring points,
points pending for a return window, and the member's tier.

Read-only: a member's account is found among the accounts the ledger already
has for the membership (none is opened by looking), by the purpose and asset
a program gives its members' accounts. Points that expire are the member's
lots with an end date, soonest first, as the ledger spends them. Points still
held for a check's return window are shown with the day they become spendable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from cagnotte.bootstrap import Services
from cagnotte.checkout.pending import member_pending
from cagnotte.checkout.tiers import member_tiers
from cagnotte.i18n import merchant_locale
from cagnotte.ledger import Account
from cagnotte.programs.loyalty.admin import member_account_among
from cagnotte.programs.loyalty.program import LoyaltyProgram, ProgramKind, ProgramStatus

# The soonest expiring lots shown per program.
EXPIRING_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Expiring:
    amount: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Pending:
    amount: str
    until: datetime


@dataclass(frozen=True, slots=True)
class ProgramView:
    """One program as its member sees it."""

    name: str
    kind: str
    balance: str
    # Stamps: how many are on the current card, and the card's size.
    stamps: int | None
    card_size: int | None
    expiring: list[Expiring]
    suspended: bool
    # Earned in a return window: not spendable until then.
    pending: list[Pending] = field(default_factory=list)
    # A program with tiers: the member's tier now, and what the next one needs.
    tier: str | None = None


def member_programs(
    services: Services,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    accounts: Sequence[Account],
) -> list[ProgramView]:
    """The merchant's programs (not deleted) with this member's standing in each."""
    views = []
    programs = services.loyalty.programs_for_checks(merchant_id)
    with services.database.read() as connection:
        held = member_pending(connection, merchant_id, membership_id)
        tiers = member_tiers(
            connection,
            merchant_id,
            membership_id,
            programs,
            services.clock.now(),
            merchant_locale(connection, merchant_id).time_zone,
        )
    for program in programs:
        account = member_account_among(accounts, program, membership_id)
        units = services.ledger.balance(account).credit_balance if account is not None else 0
        view = _view(services, program, account, units)
        pending = [
            Pending(_amount(services, program, held_units), until)
            for held_units, until in held.get(program.id, [])
        ]
        reached = tiers.get(program.id)
        views.append(replace(view, pending=pending, tier=_tier(services, program, reached)))
    return views


def _view(
    services: Services, program: LoyaltyProgram, account: Account | None, units: int
) -> ProgramView:
    suspended = program.status == ProgramStatus.SUSPENDED
    if program.kind == ProgramKind.STAMPS:
        assert program.stamp_card is not None
        size = program.stamp_card.size
        return ProgramView(
            program.name,
            program.kind.value,
            f"{units % size} of {size} stamps",
            units % size,
            size,
            [],
            suspended,
        )
    return ProgramView(
        program.name,
        program.kind.value,
        _amount(services, program, units),
        None,
        None,
        [
            Expiring(_amount(services, program, remaining), expires_at)
            for remaining, expires_at in (
                services.ledger.expiring_lots(account, services.clock.now(), EXPIRING_SHOWN)
                if account is not None
                else []
            )
        ],
        suspended,
    )


def _tier(services: Services, program: LoyaltyProgram, reached) -> str | None:
    if reached is None:
        return None
    if reached.next_tier is None:
        return reached.tier
    asset = services.loyalty.merchants.assets_by_code([program.currency])[program.currency]
    return (
        f"{reached.tier} · {asset.format(reached.next_tier_missing_minor)} more to "
        f"{reached.next_tier}"
    )


def _amount(services: Services, program: LoyaltyProgram, units: int) -> str:
    if program.kind == ProgramKind.KITTY:
        asset = services.loyalty.merchants.assets_by_code([program.asset_code])[program.asset_code]
        return asset.format(units)
    return f"{units} point" + ("" if units == 1 else "s")
