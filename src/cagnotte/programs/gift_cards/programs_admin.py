"""Gift card programs: a manager sets them up and changes their controls; operations read them.

A program is read on every operation, so it is kept in memory for a few
seconds (settings change rarely, and a change forgets it at once here).

Errors: forbidden (a role below manager changes programs), not_found (another
merchant's program, or one a reseller may not sell), asset_not_found,
invalid_input (settings that contradict each other).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import (
    FIRST_PAGE,
    Page,
    PageRequest,
)
from cagnotte.merchants.service import MerchantService
from cagnotte.programs.gift_cards import rules, setup_repository
from cagnotte.programs.gift_cards.program import (
    PROGRAM_CONTROLS,
    PROGRAM_DEFAULTS,
    PROGRAM_SETTINGS,
    Program,
)
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.security.principals import Principal

PROGRAM_CACHE_SECONDS = 5.0


class ProgramCatalogue:
    def __init__(
        self, database: Database, clock: Clock, merchants: MerchantService, resellers: Resellers
    ) -> None:
        self.database = database
        self.clock = clock
        self.merchants = merchants
        self.resellers = resellers
        self._programs: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, Program]] = {}
        self._lock = threading.Lock()

    def create_program(self, caller: Principal, settings: Mapping[str, Any]) -> Program:
        """A manager sets up a program: card format, PIN, limits, expiry, controls.

        `settings` holds the name, the asset_code and any of the program's
        settings; a setting left out (or None) takes its default.
        """
        caller.require("manager")
        named = {name: value for name, value in settings.items() if value is not None}
        assert set(named) <= {"name", "asset_code"} | set(PROGRAM_DEFAULTS) | _REQUIRED, named
        values = {**PROGRAM_DEFAULTS, **named}
        rules.check_program_settings(values)
        self._require_currency(caller.merchant_id, values["asset_code"])
        program_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            setup_repository.insert_program(
                connection,
                {
                    "merchant_id": caller.merchant_id,
                    "id": program_id,
                    "status": "active",
                    "created_at": now,
                    **values,
                },
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card_program.created",
                program_id,
                {"name": values["name"]},
                now,
            )
        return self.program(caller.merchant_id, program_id)

    def update_program(
        self, caller: Principal, program_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> Program:
        """Change a program's limits and controls (its card format stays)."""
        caller.require("manager")
        assert set(changes) <= PROGRAM_CONTROLS, f"not controls: {set(changes) - PROGRAM_CONTROLS}"
        current = self.program(caller.merchant_id, program_id)
        values = {setting.name: getattr(current, setting.name) for setting in PROGRAM_SETTINGS}
        rules.check_program_settings({**values, **changes})
        with self.database.transaction() as connection:
            setup_repository.update_program(connection, caller.merchant_id, program_id, changes)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card_program.updated",
                program_id,
                {"fields": sorted(changes)},
                self.clock.now(),
            )
        with self._lock:
            self._programs.pop((caller.merchant_id, program_id), None)
        return self.program(caller.merchant_id, program_id)

    def list_programs(self, caller: Principal) -> list[Program]:
        """The merchant's programs; for a reseller, those it may sell."""
        with self.database.read() as connection:
            programs = setup_repository.programs(connection, caller.merchant_id)
        if caller.role == "reseller":
            allowed = self.resellers.program_ids_of(caller)
            programs = [program for program in programs if program.id in allowed]
        return programs

    def programs_page(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[Program]:
        """A page of list_programs, oldest first."""
        allowed = self.resellers.program_ids_of(caller) if caller.role == "reseller" else None
        with self.database.read() as connection:
            return setup_repository.programs_page(connection, caller.merchant_id, allowed, page)

    def get_program(self, caller: Principal, program_id: uuid.UUID) -> Program:
        program = self.program(caller.merchant_id, program_id)
        if caller.role == "reseller" and program_id not in self.resellers.program_ids_of(caller):
            raise errors.NotFound(setup_repository.NO_SUCH_PROGRAM)
        return program

    def program(
        self, merchant_id: uuid.UUID, program_id: uuid.UUID, connection: Connection | None = None
    ) -> Program:
        """A program, kept in memory for a few seconds (settings change rarely).

        In a unit of work, pass its connection: a request that holds a connection
        (and the rows it locked) never waits for a second one of the pool, which
        the requests queued on those rows may all be holding.
        """
        key = (merchant_id, program_id)
        cached = self._programs.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if connection is not None:
            program = setup_repository.program(connection, merchant_id, program_id)
        else:
            with self.database.read() as own_connection:
                program = setup_repository.program(own_connection, merchant_id, program_id)
        with self._lock:
            self._programs[key] = (time.monotonic() + PROGRAM_CACHE_SECONDS, program)
        return program

    def _require_currency(self, merchant_id: uuid.UUID, asset_code: str) -> None:
        known = {asset.code for asset in self.merchants.assets_by_code([asset_code]).values()}
        if asset_code not in known:
            raise errors.AssetNotFound()


# The settings a new program must name (they have no default).
_REQUIRED = frozenset(setting.name for setting in PROGRAM_SETTINGS if setting.required)
