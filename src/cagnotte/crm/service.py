"""The customer directory of a merchant: enrol, fetch, search, edit, block.

And the operator's side of a customer: their platform account (one identity
across merchants), which the operator can find, block and unblock.

A customer's accounts are frozen (nothing moves) while the merchant has blocked
their membership or the operator their platform account, and only then: each
change of either status recomputes the freeze of the accounts it concerns, under
the lock of the customer's row, so that a merchant's block and the operator's
unblock arriving together cannot thaw a blocked member's accounts.

Errors: not_found, invalid_phone, invalid_input, conflict, forbidden, customer_blocked.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.crm.consents import caller_source, record_consents
from cagnotte.crm.names import fold, found_by_trigrams
from cagnotte.crm.notices import notice_to_give
from cagnotte.crm.phones import normalise_phone
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.tables import PLATFORM_MERCHANT_ID, accounts, customers, memberships
from cagnotte.i18n import merchant_locale
from cagnotte.ledger import Ledger
from cagnotte.security.member_tokens import issue_member_token, read_member_token
from cagnotte.security.platform_keys import platform_key
from cagnotte.security.principals import PLATFORM_ACCOUNT_BLOCKED, Principal

PLATFORM_STATUSES = ("active", "blocked")
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "birth_date",
    "address",
    "consent_marketing_email",
    "consent_marketing_sms",
)


# Built once: every check of a member asks it.
_MEMBERSHIP_STATUS = (
    select(memberships.c.status, customers.c.status.label("platform_status"))
    .join(customers, customers.c.id == memberships.c.customer_id)
    .where(
        memberships.c.merchant_id == bindparam("merchant_id"),
        memberships.c.id == bindparam("membership_id"),
    )
)


class CustomerService:
    def __init__(self, database: Database, clock: Clock, ledger: Ledger, region: str = "CZ"):
        self.database = database
        self.clock = clock
        self.ledger = ledger
        # The operator's look-ups name no merchant: their national numbers are read
        # here. A merchant's are read in its own country (i18n.merchant_locale).
        self.region = region
        # Memberships never change merchant and are never deleted: once seen, known.
        self._known: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._known_lock = threading.Lock()

    def enrol(
        self,
        caller: Principal,
        *,
        phone: str | None,
        email: str | None,
        profile: dict[str, Any],
        accept_terms: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Enrol a customer (a phone number alone is enough); returns (membership, created).

        A new membership's answer holds `notice`: the information notice the cashier
        must give now (crm/notices.py), which the membership records as given, with
        its version and the moment. A customer enrolled already is returned as is,
        with created False and no notice (they were given theirs when they enrolled).
        """
        caller.require("cashier")
        phone = self._normalised_phone(caller.merchant_id, phone) if phone else None
        email = email.strip().lower() if email else None
        if phone is None and email is None:
            raise errors.InvalidInput("A phone number or an e-mail is needed.")
        now = self.clock.now()
        for _attempt in range(3):
            try:
                with self.database.transaction() as connection:
                    customer_id = self._identity(connection, phone, email)
                    existing = self._membership_by_customer(
                        connection, caller.merchant_id, customer_id
                    )
                    if existing is not None:
                        return existing, False
                    membership_id = uuid.uuid4()
                    notice = notice_to_give(connection, caller.merchant_id, now)
                    values = {key: profile.get(key) for key in PROFILE_FIELDS}
                    values["email"] = values["email"] or email
                    # Given below, with their proof (crm/consents.py).
                    consents = _consent_changes(values)
                    values["consent_marketing_email"] = False
                    values["consent_marketing_sms"] = False
                    connection.execute(
                        insert(memberships).values(
                            merchant_id=caller.merchant_id,
                            id=membership_id,
                            customer_id=customer_id,
                            phone=phone,
                            status="active",
                            search_name=_search_name(values),
                            created_at=now,
                            updated_at=now,
                            consent_terms_at=now if accept_terms else None,
                            notice_given_at=now,
                            notice_version=notice["version"],
                            **values,
                        )
                    )
                    record_consents(
                        connection,
                        caller.merchant_id,
                        membership_id,
                        consents,
                        source=caller_source(caller),
                        text_version=None,
                        now=now,
                    )
                    record_audit(
                        connection,
                        caller.merchant_id,
                        caller.actor,
                        "customer.enrolled",
                        membership_id,
                        {},
                        now,
                    )
                    enrolled = self._membership(connection, caller.merchant_id, membership_id)
                    return {**enrolled, "notice": notice}, True
            except IntegrityError:
                # Someone enrolled the same phone at the same moment; look again.
                continue
        raise errors.Conflict("The customer is being enrolled by another request.")

    def _normalised_phone(self, merchant_id: uuid.UUID, phone: str) -> str:
        """The phone in E.164, a national number read in the merchant's country."""
        with self.database.read() as connection:
            region = merchant_locale(connection, merchant_id).country
        return normalise_phone(phone, region)

    def _identity(self, connection: Connection, phone: str | None, email: str | None) -> uuid.UUID:
        """The platform-wide identity for this phone (or e-mail), created if new.

        A phone number names the identity; an e-mail given with it is attached only
        when the identity has none and no other identity uses it.
        """
        if phone is not None:
            row = connection.execute(
                select(customers.c.id, customers.c.email).where(customers.c.phone == phone)
            ).first()
        else:
            row = connection.execute(
                select(customers.c.id, customers.c.email).where(customers.c.email == email)
            ).first()
        if row is not None:
            if (
                row.email is None
                and email is not None
                and not connection.execute(
                    select(customers.c.id).where(customers.c.email == email)
                ).first()
            ):
                connection.execute(
                    update(customers).where(customers.c.id == row.id).values(email=email)
                )
            return row.id
        if (
            email is not None
            and connection.execute(select(customers.c.id).where(customers.c.email == email)).first()
        ):
            email = None  # That e-mail names somebody else; keep it on the membership only.
        customer_id = uuid.uuid4()
        connection.execute(
            insert(customers).values(
                id=customer_id, phone=phone, email=email, created_at=self.clock.now()
            )
        )
        return customer_id

    def get(self, caller: Principal, membership_id: uuid.UUID) -> dict[str, Any]:
        caller.require("cashier")
        with self.database.read() as connection:
            return self._membership(connection, caller.merchant_id, membership_id)

    def search(
        self,
        caller: Principal,
        *,
        name: str | None,
        phone: str | None,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[dict[str, Any]]:
        """Search by name (part of first or last name, whatever the case and accents:
        `eloise` finds Éloïse) and/or phone (any format, read in the merchant's country);
        the members in the order of their names ("first last"), then by id.

        The order is the index `ix_memberships_search_name`'s, so a page is a walk of
        it; on PostgreSQL the fragments are found by the trigram indexes (migration
        0035), a whole phone number by `ix_memberships_phone`.
        """
        caller.require("cashier")
        query = _membership_query().where(memberships.c.merchant_id == caller.merchant_id)
        fragment = fold(name) if name else ""
        if fragment:
            pattern = "%" + _escape_like(fragment) + "%"
            query = query.where(memberships.c.search_name.like(pattern, escape="\\"))
        order = Order("customers", (memberships.c.search_name, memberships.c.id))
        with self.database.read() as connection:
            digits = ""
            if phone:
                region = merchant_locale(connection, caller.merchant_id).country
                condition, digits = _phone_searched(phone, region)
                query = query.where(condition)
            with found_by_trigrams(connection, fragment, digits):
                found = fetch_page(connection, query, order, page)
        return found.map(_membership_view)

    def update_profile(
        self, caller: Principal, membership_id: uuid.UUID, changes: dict[str, Any]
    ) -> dict[str, Any]:
        caller.require("cashier")
        changes = {key: value for key, value in changes.items() if key in PROFILE_FIELDS}
        with self.database.transaction() as connection:
            current = self._membership(connection, caller.merchant_id, membership_id)
            merged = {**current, **changes}
            consents = _consent_changes(changes)
            profile = {k: v for k, v in changes.items() if not k.startswith("consent_")}
            connection.execute(
                update(memberships)
                .where(
                    memberships.c.merchant_id == caller.merchant_id,
                    memberships.c.id == membership_id,
                )
                .values(search_name=_search_name(merged), updated_at=self.clock.now(), **profile)
            )
            record_consents(
                connection,
                caller.merchant_id,
                membership_id,
                consents,
                source=caller_source(caller),
                text_version=None,
                now=self.clock.now(),
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "customer.updated",
                membership_id,
                {"fields": sorted(changes)},
                self.clock.now(),
            )
            return self._membership(connection, caller.merchant_id, membership_id)

    def set_status(self, caller: Principal, membership_id: uuid.UUID, status: str) -> dict:
        """Block or unblock a membership; a blocked member's accounts are frozen.

        Unblocked, they thaw unless the operator has blocked the platform account.
        """
        caller.require("manager")
        assert status in ("active", "blocked")
        with self.database.transaction() as connection:
            membership = self._membership(connection, caller.merchant_id, membership_id)
            platform_status = _lock_platform_account(connection, membership["customer_id"])
            connection.execute(
                update(memberships)
                .where(
                    memberships.c.merchant_id == caller.merchant_id,
                    memberships.c.id == membership_id,
                )
                .values(status=status, updated_at=self.clock.now())
            )
            self.ledger.set_frozen(
                connection,
                caller.merchant_id,
                _membership_account_ids(connection, caller.merchant_id, membership_id),
                frozen="blocked" in (status, platform_status),
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                f"customer.{status}",
                membership_id,
                {},
                self.clock.now(),
            )
            return self._membership(connection, caller.merchant_id, membership_id)

    # The platform account (the operator's) -------------------------------------------

    def find_platform_accounts(
        self,
        caller: Principal,
        *,
        phone: str | None,
        email: str | None,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[dict[str, Any]]:
        """The platform account with this phone (any notation) or e-mail: none or one (a
        page, as every list is)."""
        _require_operator(caller)
        if phone is None and email is None:
            raise errors.InvalidInput("Name a phone number or an e-mail.")
        query = select(customers)
        if phone is not None:
            query = query.where(customers.c.phone == normalise_phone(phone, self.region))
        if email is not None:
            query = query.where(customers.c.email == email.strip().lower())
        order = Order("platform_accounts", (customers.c.created_at, customers.c.id))
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)

    def set_platform_status(
        self, caller: Principal, customer_id: uuid.UUID, status: str, *, reason: str
    ) -> dict[str, Any]:
        """The operator blocks or unblocks a customer's platform account, with a reason.

        A blocked account cannot sign in (its open sessions stop working too),
        gets no member token and redeems no bonus code; its accounts are frozen
        (its platform wallets, and those of every membership), so no register
        takes a payment from it or credits it. Unblocked, they thaw, except those
        of a membership its merchant has blocked. The reason is kept in the audit
        trail, with who decided.
        """
        _require_operator(caller)
        assert status in PLATFORM_STATUSES
        now = self.clock.now()
        with self.database.transaction() as connection:
            if _lock_platform_account(connection, customer_id) is None:
                raise errors.NotFound("No such platform account.")
            connection.execute(
                update(customers).where(customers.c.id == customer_id).values(status=status)
            )
            self._freeze_platform_account(connection, customer_id, blocked=status == "blocked")
            record_audit(
                connection,
                PLATFORM_MERCHANT_ID,
                caller.actor,
                f"platform_account.{status}",
                customer_id,
                {"reason": reason},
                now,
            )
            return dict(
                connection.execute(select(customers).where(customers.c.id == customer_id))
                .mappings()
                .one()
            )

    def _freeze_platform_account(
        self, connection: Connection, customer_id: uuid.UUID, *, blocked: bool
    ) -> None:
        """Freeze or thaw the customer's accounts, per merchant, keeping a member's own block."""
        platform_wallets = (
            connection.execute(
                select(accounts.c.id).where(
                    accounts.c.merchant_id == PLATFORM_MERCHANT_ID,
                    accounts.c.owner_type == "customer",
                    accounts.c.owner_id == customer_id,
                )
            )
            .scalars()
            .all()
        )
        self.ledger.set_frozen(connection, PLATFORM_MERCHANT_ID, platform_wallets, frozen=blocked)
        for membership in connection.execute(
            select(memberships.c.merchant_id, memberships.c.id, memberships.c.status).where(
                memberships.c.customer_id == customer_id
            )
        ).all():
            self.ledger.set_frozen(
                connection,
                membership.merchant_id,
                _membership_account_ids(connection, membership.merchant_id, membership.id),
                frozen=blocked or membership.status == "blocked",
            )

    def require_platform_account_active(self, customer_id: uuid.UUID) -> None:
        """customer_blocked unless the customer's platform account is active."""
        with self.database.read() as connection:
            status = connection.execute(
                select(customers.c.status).where(customers.c.id == customer_id)
            ).scalar()
        if status != "active":
            raise errors.CustomerBlocked(PLATFORM_ACCOUNT_BLOCKED)

    def require_membership(self, merchant_id: uuid.UUID, membership_id: uuid.UUID) -> str:
        """Check the membership is this merchant's (cached once known); returns its status.

        The status is "blocked" when the merchant has blocked the membership or
        the operator the customer's platform account: either way nothing moves.
        """
        key = (merchant_id, membership_id)
        with self.database.read() as connection:
            row = connection.execute(
                _MEMBERSHIP_STATUS, {"merchant_id": merchant_id, "membership_id": membership_id}
            ).first()
        if row is None:
            raise errors.NotFound("No such customer.")
        with self._known_lock:
            self._known.add(key)
        return "blocked" if "blocked" in (row.status, row.platform_status) else "active"

    def is_known(self, merchant_id: uuid.UUID, membership_id: uuid.UUID) -> bool:
        return (merchant_id, membership_id) in self._known

    def memberships_of(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every membership of one identity (for the customer's own page)."""
        with self.database.read() as connection:
            rows = connection.execute(
                _membership_query()
                .where(memberships.c.customer_id == customer_id)
                .order_by(memberships.c.created_at)
            ).mappings()
            return [_membership_view(row) for row in rows]

    def membership_by_phone(self, merchant_id: uuid.UUID, phone: str) -> uuid.UUID:
        """The merchant's member with this phone (any format, national ones read in the
        merchant's country); not_found otherwise."""
        with self.database.read() as connection:
            region = merchant_locale(connection, merchant_id).country
            normalised = normalise_phone(phone, region)
            found = connection.execute(
                select(memberships.c.id).where(
                    memberships.c.merchant_id == merchant_id, memberships.c.phone == normalised
                )
            ).scalar()
        if found is None:
            raise errors.NotFound("No such customer.")
        return found

    def member_token(self, customer_id: uuid.UUID, merchant_id: uuid.UUID) -> tuple[str, datetime]:
        """A short-lived token naming the customer's membership here (the customer page's QR).

        A blocked platform account gets none (customer_blocked); nor does a
        membership its merchant blocked (not_found, as for no membership).
        """
        self.require_platform_account_active(customer_id)
        membership = next(
            (
                m
                for m in self.memberships_of(customer_id)
                if m["merchant_id"] == merchant_id and m["status"] == "active"
            ),
            None,
        )
        if membership is None:
            raise errors.NotFound("No such membership.")
        return issue_member_token(
            self._member_token_key(), merchant_id, membership["id"], self.clock.now()
        )

    def membership_by_token(self, merchant_id: uuid.UUID, token: str) -> uuid.UUID:
        """The member a scanned token names (member_token_invalid when it cannot be used)."""
        return read_member_token(self._member_token_key(), merchant_id, token, self.clock.now())

    def _member_token_key(self) -> bytes:
        return platform_key(self.database, self.clock, "member_tokens")

    def touch_visit(self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID):
        connection.execute(
            update(memberships)
            .where(memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id)
            .values(last_visit_at=self.clock.now())
        )

    def _membership(
        self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
    ) -> dict[str, Any]:
        row = (
            connection.execute(
                _membership_query().where(
                    memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("No such customer.")
        return _membership_view(row)

    def _membership_by_customer(
        self, connection: Connection, merchant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> dict[str, Any] | None:
        row = (
            connection.execute(
                _membership_query().where(
                    memberships.c.merchant_id == merchant_id,
                    memberships.c.customer_id == customer_id,
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _membership_view(row)


def _require_operator(caller: Principal) -> None:
    if not caller.is_operator:
        raise errors.Forbidden("Only the operator manages platform accounts.")


def _lock_platform_account(connection: Connection, customer_id: uuid.UUID) -> str | None:
    """The platform account's status, its row locked until the transaction ends (or None).

    Both a merchant's block of a membership and the operator's block of the
    account take this lock first, so that each sees the other's status when it
    decides whether the accounts stay frozen.
    """
    query = select(customers.c.status).where(customers.c.id == customer_id)
    if connection.dialect.name == "postgresql":
        # SQLite has one writer at a time: its write transaction is the lock.
        query = query.with_for_update(key_share=True)
    return connection.execute(query).scalar()


def _membership_account_ids(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
) -> list[uuid.UUID]:
    return list(
        connection.execute(
            select(accounts.c.id).where(
                accounts.c.merchant_id == merchant_id,
                accounts.c.owner_type == "membership",
                accounts.c.owner_id == membership_id,
            )
        )
        .scalars()
        .all()
    )


def _membership_query():
    return select(memberships)


def _membership_view(row: Any) -> dict[str, Any]:
    # Phone and e-mail are the membership's own: the identity's may come from
    # another merchant.
    view = dict(row)
    view.pop("search_name", None)
    return view


def _consent_changes(values: dict[str, Any]) -> dict[str, bool]:
    """The consent flags a profile sets, by channel (an absent or null one changes nothing)."""
    return {
        channel: bool(values[column])
        for channel, column in (
            ("email", "consent_marketing_email"),
            ("sms", "consent_marketing_sms"),
        )
        if values.get(column) is not None
    }


def _search_name(values: dict[str, Any]) -> str:
    parts = [values.get("first_name") or "", values.get("last_name") or ""]
    return " ".join(fold(part) for part in parts if part).strip()


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _phone_searched(phone: str, region: str) -> tuple[Any, str]:
    """What a phone search looks for: a whole number (in any notation, a national one
    read in the merchant's region: '06 12 34 56 78' finds +33612345678 at a French
    merchant) by equality, else the digits typed anywhere in the number (and they)."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return memberships.c.phone == e164, ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        raise errors.InvalidInput("A phone search needs digits.")
    return memberships.c.phone.like("%" + digits + "%"), digits
