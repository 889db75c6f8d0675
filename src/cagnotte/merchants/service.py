"""Merchant administration: one method per use case.

Errors: not_found, forbidden, conflict, invalid_input.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from cagnotte import errors, i18n
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.crm import notices, templates
from cagnotte.db import lookups
from cagnotte.db.engine import Database
from cagnotte.db.lookups import LookupKind
from cagnotte.db.notifications import Listener, notify
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import (
    PLATFORM_MERCHANT_ID,
    api_keys,
    assets,
    merchants,
    staff,
    stores,
    terminals,
)
from cagnotte.money import Asset
from cagnotte.security.attempts import AttemptLimiter, subject_key
from cagnotte.security.auth import STAFF_SIGN_IN_SCOPE
from cagnotte.security.passwords import PASSWORD_LENGTH_MIN, hash_password
from cagnotte.security.principals import Principal
from cagnotte.security.secrets_ import new_token, token_hash

API_KEY_NAME_MAX = 200
# The channel on which a process says it revoked a key or changed a merchant's
# status: every other process forgets the keys it had checked (db/notifications.py).
API_KEYS_CHANNEL = "cagnotte_api_keys"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """An API key as shown once, at creation; only its hash is kept."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    role: str
    key_prefix: str
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    created_at: datetime
    secret: str


class MerchantService:
    def __init__(self, database: Database, clock: Clock, key_cache_seconds: int = 5) -> None:
        self.database = database
        self.clock = clock
        self._key_cache: dict[str, tuple[float, Principal | None]] = {}
        self._key_cache_lock = threading.Lock()
        # Counts the times the cache was emptied, so that a look-up that began
        # before a revocation does not put back what the revocation took out.
        self._key_cache_generation = 0
        self.key_cache_seconds = key_cache_seconds
        self._revocations: Listener | None = None
        self._assets: dict[str, Asset] = {}

    # Operator ----------------------------------------------------------------

    def ensure_operator_key(self) -> str | None:
        """Create the operator's first key if there is none; returns it once."""
        with self.database.transaction() as connection:
            exists = connection.execute(
                select(api_keys.c.id).where(
                    api_keys.c.role == "operator", api_keys.c.revoked_at.is_(None)
                )
            ).first()
            if exists is not None:
                return None
            issued = self._issue_key(connection, PLATFORM_MERCHANT_ID, "operator", "operator")
        return issued.secret

    def rotate_operator_key(self) -> tuple[str, int]:
        """A new operator key, every older one revoked (`cagnotte operator-key rotate`).

        Returns the new key, shown once, and how many keys were revoked. The other
        processes forget the revoked keys when this commits (API_KEYS_CHANNEL).
        """
        now = self.clock.now()
        with self.database.transaction() as connection:
            revoked = connection.execute(
                update(api_keys)
                .where(
                    api_keys.c.merchant_id == PLATFORM_MERCHANT_ID,
                    api_keys.c.role == "operator",
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            ).rowcount
            issued = self._issue_key(connection, PLATFORM_MERCHANT_ID, "operator", "operator")
            record_audit(
                connection,
                PLATFORM_MERCHANT_ID,
                "command:operator-key rotate",
                "operator_key.rotated",
                issued.id,
                {"revoked": revoked},
                now,
            )
            notify(connection, API_KEYS_CHANNEL)
        self._forget_keys()
        return issued.secret, revoked

    def create_first_owner(
        self, merchant_id: uuid.UUID, *, email: str, name: str, password: str
    ) -> dict[str, Any]:
        """An owner who signs in with a password, made at the terminal (`cagnotte staff create`).

        Errors: not_found (no such merchant), conflict (the e-mail is taken),
        invalid_input (the password is too short).
        """
        with self.database.read() as connection:
            self._merchant(connection, merchant_id)
        return self.create_staff(
            Principal(merchant_id=merchant_id, role="operator"),
            email=email,
            name=name,
            role="owner",
            password=password,
        )

    def create_merchant(
        self,
        caller: Principal,
        *,
        name: str,
        head_office_email: str | None,
        country: str | None = None,
        locale: str | None = None,
        time_zone: str | None = None,
    ) -> dict[str, Any]:
        """A new merchant and its owner's first key.

        Where it is defaults to the platform's home (i18n.py); a locale left out
        follows the country (`fr` for FR), a zone left out too (Canada: Toronto).
        Errors: forbidden, unknown_country, unknown_locale, unknown_time_zone.
        """
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator creates merchants.")
        where = _locale_of(country, locale, time_zone)
        merchant_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(merchants).values(
                    id=merchant_id,
                    name=name,
                    status="active",
                    head_office_email=head_office_email,
                    created_at=self.clock.now(),
                    country=where.country,
                    locale=where.locale,
                    time_zone=where.time_zone,
                )
            )
            issued = self._issue_key(connection, merchant_id, "owner", "owner key")
            record_audit(
                connection,
                merchant_id,
                caller.actor,
                "merchant.created",
                merchant_id,
                {"name": name},
                self.clock.now(),
            )
            merchant = self._merchant(connection, merchant_id)
        return {**merchant, "owner_key": issued}

    def list_merchants(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        """The merchants, oldest first."""
        query = select(merchants).where(merchants.c.id != PLATFORM_MERCHANT_ID)
        if not caller.is_operator:
            query = query.where(merchants.c.id == caller.merchant_id)
        order = Order("merchants", (merchants.c.created_at, merchants.c.id))
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)

    def merchant_names(self, merchant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The public names of these merchants (for the customer's own page)."""
        wanted = set(merchant_ids)
        if not wanted:
            return {}
        with self.database.read() as connection:
            rows = connection.execute(
                select(merchants.c.id, merchants.c.name).where(merchants.c.id.in_(wanted))
            ).all()
        return {row.id: row.name for row in rows}

    def locale_of(self, merchant_id: uuid.UUID) -> i18n.MerchantLocale:
        """Where the merchant is (for its mails and pages); the platform's for no merchant."""
        with self.database.read() as connection:
            return i18n.merchant_locale(connection, merchant_id)

    def get_merchant(self, caller: Principal, merchant_id: uuid.UUID) -> dict[str, Any]:
        if not caller.is_operator and caller.merchant_id != merchant_id:
            raise errors.NotFound()
        with self.database.read() as connection:
            return self._merchant(connection, merchant_id)

    def set_merchant_status(
        self, caller: Principal, merchant_id: uuid.UUID, status: str
    ) -> dict[str, Any]:
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator suspends merchants.")
        with self.database.transaction() as connection:
            self._merchant(connection, merchant_id)
            connection.execute(
                update(merchants).where(merchants.c.id == merchant_id).values(status=status)
            )
            record_audit(
                connection,
                merchant_id,
                caller.actor,
                "merchant.status",
                merchant_id,
                {"status": status},
                self.clock.now(),
            )
            notify(connection, API_KEYS_CHANNEL)
            merchant = self._merchant(connection, merchant_id)
        self._forget_keys()
        return merchant

    def update_merchant(
        self,
        caller: Principal,
        merchant_id: uuid.UUID,
        *,
        country: str | None = None,
        locale: str | None = None,
        time_zone: str | None = None,
        notice_text: str | None = None,
        birthday_message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change a merchant's settings (the operator, or the merchant's owner).

        Where it is: what is left out stays. Counters already kept for a day stay
        that day's: a new zone counts from the next check on. Its information
        notice: a new text is its next version (crm/notices.py). Its birthday
        message (`enabled`, `subject`, `body`; a null template is the default one):
        the templates are rendered once with sample fields, so a mistake is told now.
        Errors: not_found, forbidden, unknown_country, unknown_locale, unknown_time_zone,
        invalid_input.
        """
        if not caller.is_operator and caller.merchant_id != merchant_id:
            raise errors.NotFound()
        caller.require("owner")
        changes = {
            key: check(value)
            for key, value, check in (
                ("country", country, i18n.check_country),
                ("locale", locale, i18n.check_locale),
                ("time_zone", time_zone, i18n.check_time_zone),
            )
            if value is not None
        }
        message = {
            f"birthday_message_{key}": value for key, value in (birthday_message or {}).items()
        }
        templates.check_templates(
            templates.BIRTHDAY_SAMPLE_CONTEXT,
            *(message.get(f"birthday_message_{key}") or "" for key in ("subject", "body")),
        )
        now = self.clock.now()
        with self.database.transaction() as connection:
            row = connection.execute(
                notices.lock_merchant(
                    select(merchants.c.id).where(
                        merchants.c.id == merchant_id, merchants.c.id != PLATFORM_MERCHANT_ID
                    ),
                    connection,
                )
            ).first()
            if row is None:
                raise errors.NotFound()
            if changes or message:
                connection.execute(
                    update(merchants)
                    .where(merchants.c.id == merchant_id)
                    .values(**changes, **message)
                )
            if changes:
                record_audit(
                    connection,
                    merchant_id,
                    caller.actor,
                    "merchant.locale",
                    merchant_id,
                    changes,
                    now,
                )
            if message:
                record_audit(
                    connection,
                    merchant_id,
                    caller.actor,
                    "merchant.birthday_message",
                    merchant_id,
                    {"fields": sorted(message)},
                    now,
                )
            if notice_text is not None:
                version = notices.record_notice_text(connection, merchant_id, notice_text, now)
                if version is not None:
                    record_audit(
                        connection,
                        merchant_id,
                        caller.actor,
                        "merchant.notice",
                        merchant_id,
                        {"version": version},
                        now,
                    )
            return self._merchant(connection, merchant_id)

    def notice_versions(
        self, caller: Principal, merchant_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        """The merchant's information notices, newest first (each version as it was
        given: the proof of what a member was told)."""
        if not caller.is_operator and caller.merchant_id != merchant_id:
            raise errors.NotFound()
        caller.require("manager")
        with self.database.read() as connection:
            self._merchant(connection, merchant_id)
            return notices.notice_versions(connection, merchant_id, page)

    def _merchant(self, connection: Connection, merchant_id: uuid.UUID) -> dict[str, Any]:
        row = (
            connection.execute(
                select(merchants).where(
                    merchants.c.id == merchant_id, merchants.c.id != PLATFORM_MERCHANT_ID
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound()
        return dict(row)

    # Assets --------------------------------------------------------------------

    def create_asset(self, caller: Principal, *, code: str, scale: int, name: str) -> dict:
        """The operator adds a currency; a merchant (manager+) adds its own unit."""
        caller.require("manager")
        owner = (
            None
            if caller.is_operator and caller.merchant_id == PLATFORM_MERCHANT_ID
            else (caller.merchant_id)
        )
        try:
            with self.database.transaction() as connection:
                connection.execute(
                    insert(assets).values(
                        code=code,
                        scale=scale,
                        name=name,
                        merchant_id=owner,
                        created_at=self.clock.now(),
                    )
                )
        except IntegrityError:
            raise errors.AssetExists() from None
        return {"code": code, "scale": scale, "name": name, "merchant_id": owner}

    def list_assets(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        """The assets the caller may use, by code."""
        query = select(assets.c.code, assets.c.scale, assets.c.name, assets.c.merchant_id)
        if not caller.is_operator:
            query = query.where(
                assets.c.merchant_id.is_(None) | (assets.c.merchant_id == caller.merchant_id)
            )
        with self.database.read() as connection:
            return fetch_page(connection, query, Order("assets", (assets.c.code,)), page).map(dict)

    def assets_by_code(self, codes: Iterable[str]) -> dict[str, Asset]:
        """How to count and show these assets (their scale), by code."""
        wanted = set(codes)
        known = {code: self._assets[code] for code in wanted if code in self._assets}
        if len(known) == len(wanted):
            return known
        with self.database.read() as connection:
            rows = connection.execute(
                select(assets.c.code, assets.c.scale).where(assets.c.code.in_(wanted))
            ).all()
        found = {row.code: Asset(row.code, row.scale) for row in rows}
        self._assets.update(found)  # an asset is never changed nor deleted
        return found

    # Stores and terminals --------------------------------------------------------

    def create_store(
        self, caller: Principal, *, name: str, address: str | None, manager_email: str | None
    ) -> dict[str, Any]:
        caller.require("owner")
        store_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(stores).values(
                    merchant_id=caller.merchant_id,
                    id=store_id,
                    name=name,
                    address=address,
                    manager_email=manager_email,
                    created_at=self.clock.now(),
                )
            )
            return self._one(connection, stores, caller.merchant_id, store_id)

    def list_stores(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        return self._list(stores, caller.merchant_id, page)

    def get_store(self, caller: Principal, store_id: uuid.UUID) -> dict[str, Any]:
        with self.database.read() as connection:
            return self._one(connection, stores, caller.merchant_id, store_id)

    def create_terminal(
        self, caller: Principal, *, store_id: uuid.UUID, kind: str, name: str
    ) -> dict[str, Any]:
        """A register, kiosk or e-store, with its own key (cashier role, shown once)."""
        caller.require("manager")
        terminal_id = uuid.uuid4()
        with self.database.transaction() as connection:
            self._one(connection, stores, caller.merchant_id, store_id)
            connection.execute(
                insert(terminals).values(
                    merchant_id=caller.merchant_id,
                    id=terminal_id,
                    store_id=store_id,
                    kind=kind,
                    name=name,
                    active=True,
                    created_at=self.clock.now(),
                )
            )
            issued = self._issue_key(
                connection,
                caller.merchant_id,
                "cashier",
                f"terminal {name}"[:API_KEY_NAME_MAX],
                store_id=store_id,
                terminal_id=terminal_id,
            )
            terminal = self._one(connection, terminals, caller.merchant_id, terminal_id)
        return {**terminal, "api_key": issued}

    def list_terminals(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        return self._list(terminals, caller.merchant_id, page)

    # Staff ---------------------------------------------------------------------

    def create_staff(
        self, caller: Principal, *, email: str, name: str, role: str, password: str | None
    ) -> dict[str, Any]:
        """Owners add anyone; managers add cashiers."""
        caller.require("manager")
        if caller.role == "manager" and role != "cashier":
            raise errors.Forbidden("A manager may add cashiers only.")
        if password is not None and len(password) < PASSWORD_LENGTH_MIN:
            raise errors.InvalidInput(
                f"A password needs at least {PASSWORD_LENGTH_MIN} characters."
            )
        staff_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            # The e-mail names one person platform-wide: claimed first, so that two
            # parallel requests cannot both get it.
            if not lookups.claim(
                connection,
                LookupKind.STAFF_EMAIL,
                email.lower(),
                caller.merchant_id,
                staff_id,
                now,
            ):
                raise errors.Conflict("A staff member with this e-mail exists already.")
            connection.execute(
                insert(staff).values(
                    merchant_id=caller.merchant_id,
                    id=staff_id,
                    email=email.lower(),
                    name=name,
                    role=role,
                    password_hash=hash_password(password) if password else None,
                    failed_sign_ins=0,
                    active=True,
                    created_at=now,
                )
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "staff.created",
                staff_id,
                {"email": email.lower(), "role": role},
                now,
            )
            member = self._one(connection, staff, caller.merchant_id, staff_id)
        return self._staff_views([member])[0]

    def staff_member(self, caller: Principal) -> dict[str, Any]:
        """The signed-in staff member's own record."""
        assert caller.staff_id is not None, "only a staff session names a staff member"
        with self.database.read() as connection:
            member = self._one(connection, staff, caller.merchant_id, caller.staff_id)
        return self._staff_views([member])[0]

    def list_staff(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[dict[str, Any]]:
        caller.require("manager")
        found = self._list(staff, caller.merchant_id, page)
        return Page(self._staff_views(found.items), found.next_cursor)

    def _staff_views(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Staff as shown: no password hash; a sign-in lock as the attempt limiter has it."""
        subjects = [subject_key(row["email"]) for row in rows]
        counted = AttemptLimiter(self.database, self.clock).counts(STAFF_SIGN_IN_SCOPE, subjects)
        return [
            {
                **{k: v for k, v in row.items() if k != "password_hash"},
                "locked_until": counted[subject].locked_until if subject in counted else None,
            }
            for row, subject in zip(rows, subjects, strict=True)
        ]

    # API keys ------------------------------------------------------------------

    def create_api_key(
        self, caller: Principal, *, name: str, role: str, store_id: uuid.UUID | None
    ) -> IssuedKey:
        caller.require("owner")
        if role == "operator":
            raise errors.Forbidden("Operator keys are not issued to merchants.")
        with self.database.transaction() as connection:
            if store_id is not None:
                self._one(connection, stores, caller.merchant_id, store_id)
            issued = self._issue_key(connection, caller.merchant_id, role, name, store_id=store_id)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "api_key.created",
                issued.id,
                {"name": name, "role": role},
                self.clock.now(),
            )
        return issued

    def list_api_keys(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        caller.require("owner")
        found = self._list(api_keys, caller.merchant_id, page)
        return found.map(lambda row: {k: v for k, v in row.items() if k != "key_hash"})

    def revoke_api_key(self, caller: Principal, key_id: uuid.UUID) -> dict[str, Any]:
        caller.require("owner")
        with self.database.transaction() as connection:
            key = self._one(connection, api_keys, caller.merchant_id, key_id)
            if key["revoked_at"] is None:
                connection.execute(
                    update(api_keys)
                    .where(api_keys.c.merchant_id == caller.merchant_id, api_keys.c.id == key_id)
                    .values(revoked_at=self.clock.now())
                )
                record_audit(
                    connection,
                    caller.merchant_id,
                    caller.actor,
                    "api_key.revoked",
                    key_id,
                    {},
                    self.clock.now(),
                )
                notify(connection, API_KEYS_CHANNEL)
            key = self._one(connection, api_keys, caller.merchant_id, key_id)
        self._forget_keys()
        return {k: v for k, v in key.items() if k != "key_hash"}

    def authenticate_key(self, secret: str) -> Principal | None:
        """The principal of an API key, or None; served from memory for a few seconds.

        A key revoked (or a merchant suspended) in this process is forgotten at
        once. On PostgreSQL, once `watch_revocations` runs, so it is when another
        process did it: it notifies the others when its transaction commits. While
        that word cannot arrive (the listening connection is lost), every look-up
        reads the database. Without it (no application running, e.g. a command),
        a key revoked elsewhere may work for up to `key_cache_seconds`.
        """
        digest = token_hash(secret)
        use_cache = self._revocations is None or self._revocations.listening
        cached = self._key_cache.get(digest) if use_cache else None
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        generation = self._key_cache_generation
        with self.database.read() as connection:
            found = lookups.find(connection, LookupKind.API_KEY, digest)
            row = (
                None
                if found is None
                else connection.execute(
                    select(api_keys, merchants.c.status)
                    .join(merchants, merchants.c.id == api_keys.c.merchant_id)
                    .where(api_keys.c.merchant_id == found[0], api_keys.c.id == found[1])
                ).first()
            )
        principal = None
        if row is not None and row.revoked_at is None and row.status == "active":
            principal = Principal(
                merchant_id=row.merchant_id,
                role=row.role,
                key_id=row.id,
                store_id=row.store_id,
                terminal_id=row.terminal_id,
            )
        with self._key_cache_lock:
            if use_cache and generation == self._key_cache_generation:
                if len(self._key_cache) > 10_000:
                    self._key_cache.clear()
                self._key_cache[digest] = (time.monotonic() + self.key_cache_seconds, principal)
        return principal

    def watch_revocations(self) -> None:
        """Hear of keys revoked and merchants suspended by other processes (PostgreSQL).

        Started by the application (its lifespan): a connection of its own and a
        thread that empties the key cache at each notification.
        """
        if not self.database.is_postgresql or self._revocations is not None:
            return
        self._revocations = Listener(
            self.database,
            API_KEYS_CHANNEL,
            on_message=lambda _payload: self._forget_keys(),
            on_gap=self._forget_keys,
        )
        self._revocations.start()

    def stop_watching_revocations(self) -> None:
        if self._revocations is not None:
            self._revocations.stop()
            self._revocations = None

    def _forget_keys(self) -> None:
        with self._key_cache_lock:
            self._key_cache.clear()
            self._key_cache_generation += 1

    def _issue_key(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        role: str,
        name: str,
        *,
        store_id: uuid.UUID | None = None,
        terminal_id: uuid.UUID | None = None,
    ) -> IssuedKey:
        secret = new_token("cgk")
        key_id = uuid.uuid4()
        now = self.clock.now()
        # 256 random bits: a hash already taken means a broken random source.
        claimed = lookups.claim(
            connection, LookupKind.API_KEY, token_hash(secret), merchant_id, key_id, now
        )
        assert claimed, "an API key's hash is taken already"
        connection.execute(
            insert(api_keys).values(
                merchant_id=merchant_id,
                id=key_id,
                name=name,
                role=role,
                store_id=store_id,
                terminal_id=terminal_id,
                key_prefix=secret[:12],
                key_hash=token_hash(secret),
                created_at=now,
            )
        )
        return IssuedKey(
            id=key_id,
            merchant_id=merchant_id,
            name=name,
            role=role,
            key_prefix=secret[:12],
            store_id=store_id,
            terminal_id=terminal_id,
            created_at=now,
            secret=secret,
        )

    # Helpers ---------------------------------------------------------------------

    def _one(self, connection: Connection, table: Any, merchant_id: uuid.UUID, row_id: uuid.UUID):
        return dict(merchant_row(connection, table, merchant_id, row_id))

    def _list(self, table: Any, merchant_id: uuid.UUID, page: PageRequest) -> Page[dict[str, Any]]:
        """A page of the merchant's rows of a set-up table, oldest first."""
        order = Order(table.name, (table.c.created_at, table.c.id))
        query = select(table).where(table.c.merchant_id == merchant_id)
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)


def _locale_of(
    country: str | None, locale: str | None, time_zone: str | None
) -> i18n.MerchantLocale:
    """The new merchant's locale: what the operator named, the rest from the country."""
    if country is None:
        return i18n.MerchantLocale(
            locale=i18n.check_locale(locale) if locale else i18n.DEFAULT_LOCALE,
            time_zone=i18n.check_time_zone(time_zone) if time_zone else i18n.DEFAULT_TIME_ZONE,
        )
    country = i18n.check_country(country)
    return i18n.MerchantLocale(
        country=country,
        locale=i18n.check_locale(locale) if locale else i18n.locale_of_country(country),
        time_zone=i18n.check_time_zone(time_zone) if time_zone else i18n.zone_of_country(country),
    )
