"""Setting up loyalty programs: create from a pre-set type, adjust, suspend, resume, delete.

A points or stamps program gets a ledger asset of its own (scale 0); a kitty
counts in its currency. Per program and asset, the ledger keeps:
- the program's `loyalty_issuance` account: the other side of every unit
  earned or spent (unlimited, spread over shards: every check touches it);
- each member's `loyalty` account (owner the membership, never below zero,
  keeping lots so that temporary points expire soonest first);
- the merchant's `breakage` account: what expired or was given up.

Errors: not_found, forbidden, invalid_input, asset_not_found, conflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import account_balances, accounts, assets
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.ledger import AccountSpec, Ledger, Transfer
from cagnotte.ledger.model import Account
from cagnotte.merchants.service import MerchantService
from cagnotte.programs.loyalty.budgets import budget_account_spec, budget_change, budgets_of
from cagnotte.programs.loyalty.definitions import (
    RuleDefinition,
    TieredRateIn,
    base_rule,
    engine_rule,
    unknown_tiers,
)
from cagnotte.programs.loyalty.index import RuleIndex, compile_rules
from cagnotte.programs.loyalty.program import (
    DEFAULT_SETTINGS,
    LoyaltyProgram,
    ProgramKind,
    ProgramStatus,
    program_from_settings,
    settings_of,
)
from cagnotte.programs.loyalty.tables import (
    loyalty_programs,
    loyalty_rule_versions,
    loyalty_rules,
)
from cagnotte.programs.tenders import Plan, commit_plans
from cagnotte.security.principals import Principal

ISSUANCE_SHARDS = 16
# Balances given up when a program is deleted with its balances expired: this
# many members' transfers per journal entry.
EXPIRY_TRANSFERS_PER_ENTRY = 100
CAPS_PER_CUSTOMER = (
    "per_day_amount_max",
    "per_day_times_max",
    "per_month_amount_max",
    "per_month_times_max",
)
NO_SUCH_PROGRAM = "No such loyalty program."


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A promotion as stored: its id, its program, its definition."""

    id: uuid.UUID
    program_id: uuid.UUID
    definition: RuleDefinition


class LoyaltyPrograms:
    """The merchant's loyalty programs and their ledger accounts."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        units: UnitsOfWork,
        merchants: MerchantService,
    ) -> None:
        self.database = database
        self.clock = clock
        self.ledger = ledger
        self.units = units
        self.merchants = merchants
        # Per merchant: its rules compiled and its programs (not deleted), as of
        # one version of its rules; replaced whole, so a reader sees both or neither.
        self._compiled: dict[uuid.UUID, tuple[RuleIndex, list[LoyaltyProgram]]] = {}

    # Use cases -------------------------------------------------------------------

    def create(
        self,
        caller: Principal,
        *,
        kind: ProgramKind,
        name: str,
        currency: str,
        settings: dict[str, Any],
    ) -> LoyaltyProgram:
        """A program of one of the three pre-set types, with the merchant's options."""
        caller.require("manager")
        if currency not in self.merchants.assets_by_code([currency]):
            raise errors.AssetNotFound()
        program_id = uuid.uuid4()
        asset_code = (
            currency
            if kind == ProgramKind.KITTY
            else (f"{'PTS' if kind == ProgramKind.POINTS else 'STP'}-{program_id.hex[:16]}")
        )
        program = program_from_settings(
            merchant_id=caller.merchant_id,
            id=program_id,
            kind=kind,
            name=name,
            status=ProgramStatus.ACTIVE,
            currency=currency,
            asset_code=asset_code,
            settings={**DEFAULT_SETTINGS[kind], **settings},
        )

        def work(unit: UnitOfWork) -> LoyaltyProgram:
            if asset_code != currency:
                unit.connection.execute(
                    insert(assets).values(
                        code=asset_code,
                        scale=0,
                        name=name[:100],
                        merchant_id=caller.merchant_id,
                        created_at=unit.now,
                    )
                )
            unit.connection.execute(
                insert(loyalty_programs).values(
                    merchant_id=caller.merchant_id,
                    id=program_id,
                    kind=kind.value,
                    name=name,
                    status=ProgramStatus.ACTIVE.value,
                    currency=currency,
                    asset_code=asset_code,
                    settings=settings_of(program),
                    created_at=unit.now,
                    updated_at=unit.now,
                )
            )
            self._bump_rules_version(unit)
            record_audit(
                unit.connection,
                caller.merchant_id,
                caller.actor,
                "loyalty_program.created",
                program_id,
                {"kind": kind.value, "name": name},
                unit.now,
            )
            return program

        created = self.units.run(caller.merchant_id, "loyalty_program_create", work)
        self.issuance_account(created)  # opened now, in a transaction of its own
        return created

    def update(
        self,
        caller: Principal,
        program_id: uuid.UUID,
        *,
        name: str | None,
        settings: dict[str, Any],
    ) -> LoyaltyProgram:
        """Change a program's options (its type, currency and asset stay)."""
        caller.require("manager")

        def work(unit: UnitOfWork) -> LoyaltyProgram:
            row = unit.lock(loyalty_programs, program_id, missing=NO_SUCH_PROGRAM)
            if row["status"] == ProgramStatus.DELETED:
                raise errors.NotFound(NO_SUCH_PROGRAM)
            program = _program(row, name=name, settings={**row["settings"], **settings})
            unit.connection.execute(
                update(loyalty_programs)
                .where(
                    loyalty_programs.c.merchant_id == caller.merchant_id,
                    loyalty_programs.c.id == program_id,
                )
                .values(name=program.name, settings=settings_of(program), updated_at=unit.now)
            )
            self._bump_rules_version(unit)
            record_audit(
                unit.connection,
                caller.merchant_id,
                caller.actor,
                "loyalty_program.updated",
                program_id,
                {"fields": sorted(settings) + (["name"] if name else [])},
                unit.now,
            )
            return program

        return self.units.run(caller.merchant_id, "loyalty_program_update", work)

    def suspend(self, caller: Principal, program_id: uuid.UUID) -> LoyaltyProgram:
        """Stop earning and spending; balances stay."""
        return self._set_status(
            caller, program_id, ProgramStatus.SUSPENDED, allowed_from=(ProgramStatus.ACTIVE,)
        )

    def resume(self, caller: Principal, program_id: uuid.UUID) -> LoyaltyProgram:
        return self._set_status(
            caller, program_id, ProgramStatus.ACTIVE, allowed_from=(ProgramStatus.SUSPENDED,)
        )

    def delete(
        self, caller: Principal, program_id: uuid.UUID, *, open_balances: str
    ) -> LoyaltyProgram:
        """Delete a program, its history kept; its members' balances kept or expired now.

        Kept: they stay spendable (and expire as their lots say) — through the
        customer page and a later program's conversion; expired: each member's
        balance goes to the merchant's breakage account, by ledger transfers.
        """
        caller.require("manager")
        if open_balances not in ("kept", "expired"):
            raise errors.InvalidInput("Open balances are 'kept' or 'expired'.")
        program = self._set_status(
            caller,
            program_id,
            ProgramStatus.DELETED,
            allowed_from=(ProgramStatus.ACTIVE, ProgramStatus.SUSPENDED),
            open_balances=open_balances,
        )
        if open_balances == "expired":
            self._expire_balances(program)
        return program

    def get(self, caller: Principal, program_id: uuid.UUID) -> LoyaltyProgram:
        caller.require("cashier")
        return self.program(caller.merchant_id, program_id)

    def program(
        self, merchant_id: uuid.UUID, program_id: uuid.UUID, connection: Connection | None = None
    ) -> LoyaltyProgram:
        """The merchant's program (deleted ones too: their history stays readable).

        In a unit of work, pass its connection: a request holding one never waits
        for a second connection of the pool.
        """
        if connection is not None:
            row = merchant_row(
                connection, loyalty_programs, merchant_id, program_id, missing=NO_SUCH_PROGRAM
            )
        else:
            with self.database.read() as own_connection:
                row = merchant_row(
                    own_connection,
                    loyalty_programs,
                    merchant_id,
                    program_id,
                    missing=NO_SUCH_PROGRAM,
                )
        return _program(row)

    def list(
        self, caller: Principal, *, include_deleted: bool = False, page: PageRequest = FIRST_PAGE
    ) -> Page[LoyaltyProgram]:
        """The merchant's programs, oldest first."""
        caller.require("cashier")
        query = select(loyalty_programs).where(loyalty_programs.c.merchant_id == caller.merchant_id)
        if not include_deleted:
            query = query.where(loyalty_programs.c.status != ProgramStatus.DELETED.value)
        order = Order("loyalty_programs", (loyalty_programs.c.created_at, loyalty_programs.c.id))
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(_program)

    # Earning rules (promotions) ---------------------------------------------------------

    def create_rule(
        self, caller: Principal, program_id: uuid.UUID, definition: RuleDefinition
    ) -> StoredRule:
        """A promotion of a points or kitty program; the checks use it from now on."""
        caller.require("manager")
        rule_id = uuid.uuid4()

        def work(unit: UnitOfWork) -> StoredRule:
            program = _program(unit.lock(loyalty_programs, program_id, missing=NO_SUCH_PROGRAM))
            self._check_rule(unit, program, rule_id, definition)
            unit.connection.execute(
                insert(loyalty_rules).values(
                    merchant_id=unit.merchant_id,
                    id=rule_id,
                    program_id=program_id,
                    name=definition.name,
                    priority=definition.priority,
                    exclusive=definition.exclusive,
                    active=definition.active,
                    definition=definition.model_dump(mode="json"),
                    created_at=unit.now,
                    updated_at=unit.now,
                )
            )
            self._set_budget(unit, program, rule_id, definition.budget_units)
            self._bump_rules_version(unit)
            record_audit(
                unit.connection,
                unit.merchant_id,
                caller.actor,
                "loyalty_rule.created",
                rule_id,
                {"program_id": str(program_id), "name": definition.name},
                unit.now,
            )
            return StoredRule(rule_id, program_id, definition)

        return self.units.run(caller.merchant_id, "loyalty_rule_create", work)

    def replace_rule(
        self,
        caller: Principal,
        program_id: uuid.UUID,
        rule_id: uuid.UUID,
        definition: RuleDefinition,
    ) -> StoredRule:
        """Change a promotion (or switch it off with `active: false`); history keeps the old."""
        caller.require("manager")

        def work(unit: UnitOfWork) -> StoredRule:
            program = _program(unit.lock(loyalty_programs, program_id, missing=NO_SUCH_PROGRAM))
            row = unit.lock(loyalty_rules, rule_id, missing="No such rule.")
            if row["program_id"] != program_id:
                raise errors.NotFound("No such rule.")
            self._check_rule(unit, program, rule_id, definition)
            unit.connection.execute(
                update(loyalty_rules)
                .where(
                    loyalty_rules.c.merchant_id == unit.merchant_id,
                    loyalty_rules.c.id == rule_id,
                )
                .values(
                    name=definition.name,
                    priority=definition.priority,
                    exclusive=definition.exclusive,
                    active=definition.active,
                    definition=definition.model_dump(mode="json"),
                    updated_at=unit.now,
                )
            )
            self._set_budget(unit, program, rule_id, definition.budget_units)
            self._bump_rules_version(unit)
            record_audit(
                unit.connection,
                unit.merchant_id,
                caller.actor,
                "loyalty_rule.changed",
                rule_id,
                {"before": row["definition"]},
                unit.now,
            )
            return StoredRule(rule_id, program_id, definition)

        return self.units.run(caller.merchant_id, "loyalty_rule_replace", work)

    def list_rules(
        self, caller: Principal, program_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[StoredRule]:
        """The program's promotions, highest priority first (then the newest id first)."""
        caller.require("cashier")
        self.get(caller, program_id)
        query = select(loyalty_rules).where(
            loyalty_rules.c.merchant_id == caller.merchant_id,
            loyalty_rules.c.program_id == program_id,
        )
        order = Order(
            "loyalty_rules", (loyalty_rules.c.priority, loyalty_rules.c.id), descending=True
        )
        with self.database.read() as connection:
            found = fetch_page(connection, query, order, page)
        return found.map(
            lambda row: StoredRule(
                row["id"], row["program_id"], RuleDefinition.model_validate(row["definition"])
            )
        )

    def rule_index(self, merchant_id: uuid.UUID) -> RuleIndex:
        """The merchant's earning rules compiled for checks, cached until a rule changes."""
        return self.for_checks(merchant_id)[0]

    def programs_for_checks(self, merchant_id: uuid.UUID) -> list[LoyaltyProgram]:
        """The merchant's programs (not deleted), as of the rules index just read."""
        return self.for_checks(merchant_id)[1]

    def for_checks(
        self, merchant_id: uuid.UUID, version: int | None = None
    ) -> tuple[RuleIndex, list[LoyaltyProgram]]:
        """The merchant's rules compiled for checks and its programs, cached until one changes.

        The index holds every program's base rate and every active promotion; a
        check keeps the awards of the programs running for it. Programs change
        rarely, and every change of a program or a rule bumps the merchant's
        rules version in its unit of work: one small read (the version) per
        check, and the compile once per change per process. A check that has read
        the version with its context (checkout/context.py) passes it.
        """
        with self.database.read() as connection:
            if version is None:
                version = (
                    connection.execute(
                        select(loyalty_rule_versions.c.version).where(
                            loyalty_rule_versions.c.merchant_id == merchant_id
                        )
                    ).scalar()
                    or 0
                )
            cached = self._compiled.get(merchant_id)
            if cached is not None and cached[0].version == version:
                return cached
            programs = {
                row["id"]: _program(row)
                for row in connection.execute(
                    select(loyalty_programs).where(
                        loyalty_programs.c.merchant_id == merchant_id,
                        loyalty_programs.c.status != ProgramStatus.DELETED.value,
                    )
                ).mappings()
            }
            rows = (
                connection.execute(
                    select(loyalty_rules).where(
                        loyalty_rules.c.merchant_id == merchant_id,
                        loyalty_rules.c.active.is_(True),
                    )
                )
                .mappings()
                .all()
            )
        rules = [base_rule(program) for program in programs.values() if program.earning is not None]
        rules += [
            engine_rule(
                row["id"],
                programs[row["program_id"]],
                RuleDefinition.model_validate(row["definition"]),
            )
            for row in rows
            if row["program_id"] in programs
        ]
        compiled = (
            compile_rules(rules, version=version),
            sorted(programs.values(), key=lambda program: str(program.id)),
        )
        self._compiled[merchant_id] = compiled
        return compiled

    def _check_rule(
        self,
        unit: UnitOfWork,
        program: LoyaltyProgram,
        rule_id: uuid.UUID,
        definition: RuleDefinition,
    ) -> None:
        if program.status == ProgramStatus.DELETED:
            raise errors.NotFound(NO_SUCH_PROGRAM)
        benefit = definition.benefit
        if (program.kind == ProgramKind.STAMPS) != (benefit.kind == "extra_stamps"):
            raise errors.InvalidInput(
                "A stamps program's promotions give extra stamps, and only they do."
            )
        if program.kind == ProgramKind.STAMPS and (
            definition.budget_units
            or definition.goods_limit
            or any(getattr(definition.per_customer, name) for name in CAPS_PER_CUSTOMER)
            or definition.expires_after_days
        ):
            raise errors.InvalidInput(
                "A stamps promotion takes no budget, caps per customer, limit on goods or expiry."
            )
        if program.kind == ProgramKind.POINTS and benefit.kind == "kitty_percentage":
            raise errors.InvalidInput("A points program earns points, not a kitty percentage.")
        if isinstance(benefit, TieredRateIn) and unknown_tiers(benefit, program):
            raise errors.InvalidInput(
                "A tiered rate names tiers of its program: "
                f"{', '.join(sorted(unknown_tiers(benefit, program)))} is not one."
            )
        base = getattr(benefit, "base_rule_id", None)
        if base not in (None, "base"):
            row = unit.connection.execute(
                select(loyalty_rules.c.program_id, loyalty_rules.c.definition).where(
                    loyalty_rules.c.merchant_id == unit.merchant_id,
                    loyalty_rules.c.id == base,
                )
            ).first()
            if (
                row is None
                or row.program_id != program.id
                or base == rule_id
                or (row.definition["benefit"]["kind"] in ("multiplier", "fixed_bonus"))
            ):
                raise errors.InvalidInput("A multiplier multiplies a rate rule of its program.")

    def _set_budget(
        self,
        unit: UnitOfWork,
        program: LoyaltyProgram,
        rule_id: uuid.UUID,
        budget_units: int | None,
    ) -> None:
        """Bring the rule's budget account to `budget_units` in all (under the rule's lock)."""
        if budget_units is None and not budgets_of(unit.connection, unit.merchant_id, [rule_id]):
            return
        account = self.ledger.open_account(
            unit.merchant_id, budget_account_spec(program, rule_id), unit.connection
        )
        issuance = self.ledger.open_account(
            unit.merchant_id, issuance_account_spec(program), unit.connection
        )
        transfer = budget_change(
            unit.connection,
            unit.merchant_id,
            rule_id,
            account_id=account.id,
            issuance_account_id=issuance.id,
            budget_units=budget_units,
        )
        if transfer is not None:
            commit_plans(self.ledger, unit, [Plan("loyalty_budget", (transfer,))], kind="budget")

    def budget_accounts(self, merchant_id: uuid.UUID, rule_ids: Sequence[uuid.UUID]) -> Any:
        """What is left of these rules' budgets (a quote's view; a commit reads it locked)."""
        with self.database.read() as connection:
            return budgets_of(connection, merchant_id, rule_ids)

    def _bump_rules_version(self, unit: UnitOfWork) -> None:
        """Say that the merchant's rules changed (in the unit that changes them)."""
        updated = unit.connection.execute(
            update(loyalty_rule_versions)
            .where(
                loyalty_rule_versions.c.merchant_id == unit.merchant_id,
            )
            .values(version=loyalty_rule_versions.c.version + 1)
        ).rowcount
        if updated == 0:
            unit.connection.execute(
                insert(loyalty_rule_versions).values(merchant_id=unit.merchant_id, version=1)
            )

    # Accounts -----------------------------------------------------------------------

    def issuance_account(self, program: LoyaltyProgram) -> Account:
        """The program's side of every unit earned or spent."""
        return self.ledger.open_account(program.merchant_id, issuance_account_spec(program))

    def member_account(self, program: LoyaltyProgram, membership_id: uuid.UUID) -> Account:
        """A member's balance in the program (opened on first use)."""
        return self.ledger.open_account(
            program.merchant_id, member_account_spec(program, membership_id)
        )

    # Steps ----------------------------------------------------------------------------

    def _set_status(
        self,
        caller: Principal,
        program_id: uuid.UUID,
        status: ProgramStatus,
        *,
        allowed_from: Sequence[ProgramStatus],
        open_balances: str | None = None,
    ) -> LoyaltyProgram:
        caller.require("manager")

        def work(unit: UnitOfWork) -> LoyaltyProgram:
            row = unit.lock(loyalty_programs, program_id, missing=NO_SUCH_PROGRAM)
            if row["status"] == ProgramStatus.DELETED:
                raise errors.NotFound(NO_SUCH_PROGRAM)
            if row["status"] not in allowed_from:
                raise errors.Conflict(f"The program is {row['status']}.")
            changes: dict[str, Any] = {"status": status.value, "updated_at": unit.now}
            if status == ProgramStatus.DELETED:
                changes.update(deleted_at=unit.now, open_balances=open_balances)
            unit.connection.execute(
                update(loyalty_programs)
                .where(
                    loyalty_programs.c.merchant_id == caller.merchant_id,
                    loyalty_programs.c.id == program_id,
                )
                .values(**changes)
            )
            self._bump_rules_version(unit)
            record_audit(
                unit.connection,
                caller.merchant_id,
                caller.actor,
                f"loyalty_program.{status.value}",
                program_id,
                {"open_balances": open_balances} if open_balances else {},
                unit.now,
            )
            return _program({**row, "status": status.value})

        return self.units.run(caller.merchant_id, f"loyalty_program_{status.value}", work)

    def _expire_balances(self, program: LoyaltyProgram) -> None:
        """Every member's balance to breakage, a batch of members per journal entry."""
        breakage = self.ledger.open_account(
            program.merchant_id,
            AccountSpec(
                asset_code=program.asset_code,
                owner_type="merchant",
                owner_id=program.merchant_id,
                purpose="breakage",
            ),
        )
        purpose = member_account_spec(program, program.merchant_id).purpose
        while True:
            with self.database.read() as connection:
                rows = connection.execute(
                    select(
                        account_balances.c.account_id,
                        account_balances.c.credits_posted
                        - account_balances.c.debits_posted
                        - account_balances.c.debits_pending,
                    )
                    .join(
                        accounts,
                        (accounts.c.merchant_id == account_balances.c.merchant_id)
                        & (accounts.c.id == account_balances.c.account_id),
                    )
                    .where(
                        accounts.c.merchant_id == program.merchant_id,
                        accounts.c.purpose == purpose,
                        accounts.c.asset_code == program.asset_code,
                        accounts.c.owner_type == "membership",
                        accounts.c.frozen.is_(False),
                        account_balances.c.credits_posted
                        - account_balances.c.debits_posted
                        - account_balances.c.debits_pending
                        > 0,
                    )
                    .order_by(account_balances.c.account_id)
                    .limit(EXPIRY_TRANSFERS_PER_ENTRY)
                ).all()
            if not rows:
                return
            self.ledger.post_entry(
                program.merchant_id,
                [
                    Transfer(
                        account_id,
                        breakage.id,
                        int(amount),
                        "loyalty_program_deleted",
                        reference=str(program.id),
                    )
                    for account_id, amount in rows
                ],
                kind="loyalty_program_expiry",
            )


def issuance_account_spec(program: LoyaltyProgram) -> AccountSpec:
    return AccountSpec(
        asset_code=program.asset_code,
        owner_type="program",
        owner_id=program.id,
        purpose="loyalty_issuance",
        balance_shards=ISSUANCE_SHARDS,
    )


def member_account_among(
    accounts: Iterable[Account], program: LoyaltyProgram, membership_id: uuid.UUID
) -> Account | None:
    """The member's account in the program among those the ledger has for the membership
    (found, never opened, by looking: a read path opens nothing)."""
    spec = member_account_spec(program, membership_id)
    return next(
        (a for a in accounts if a.purpose == spec.purpose and a.asset_code == spec.asset_code),
        None,
    )


def member_account_spec(program: LoyaltyProgram, membership_id: uuid.UUID) -> AccountSpec:
    # A kitty in the currency shares the asset of the wallets: the purpose and the
    # program in the purpose's owner keep them apart.
    return AccountSpec(
        asset_code=program.asset_code,
        owner_type="membership",
        owner_id=membership_id,
        purpose="loyalty" if program.kind != ProgramKind.KITTY else f"kitty:{program.id.hex[:20]}",
        debits_must_not_exceed_credits=True,
        uses_lots=True,
    )


def _program(
    row: Any, *, name: str | None = None, settings: dict[str, Any] | None = None
) -> LoyaltyProgram:
    return program_from_settings(
        merchant_id=row["merchant_id"],
        id=row["id"],
        kind=ProgramKind(row["kind"]),
        name=name or row["name"],
        status=ProgramStatus(row["status"]),
        currency=row["currency"],
        asset_code=row["asset_code"],
        settings=settings if settings is not None else row["settings"],
    )
