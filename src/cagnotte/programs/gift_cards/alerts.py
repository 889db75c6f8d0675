"""Security alerts: rules a merchant sets, alerts raised by operations, mailed at once.

A rule names a kind and its thresholds:
- wrong_pins: a card reaches `threshold_count` wrong PINs in a row (or locks);
- large_load / large_spend: one load / spend of `threshold_minor` or more;
- card_velocity: more than `threshold_count` operations on one card within
  `window_minutes`;
- terminal_card_checks: more than `threshold_count` different card numbers
  checked (balance inquiries and failed look-ups) from one terminal within
  `window_minutes`;
- balance_transfer / manual_adjustment: every one.

A threshold rule raises its alert when the count crosses the threshold, not at
every operation after it. Alerts are stored in the operation's wake (after its
commit: an alert never holds up or undoes a sale) and mailed to the merchant's
head office and/or the store's manager, as the rule says: the mail is written
to the outbox in the transaction that stores the alert, and the jobs send it
(a mail that finally fails is logged; the alert stays listed).

Errors: forbidden, invalid_input, not_found.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import distinct, func, insert, select, update

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import (
    FIRST_PAGE,
    Order,
    Page,
    PageRequest,
    fetch_page,
)
from cagnotte.db.tables import merchants, stores
from cagnotte.mail import compose
from cagnotte.outbox import MessageKind, Outbox
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.programs.gift_cards.tables import (
    gift_card_alert_rules,
    gift_card_alerts,
    gift_card_lookups,
    gift_card_operations,
)
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import emit

ALERT_KINDS = (
    "wrong_pins",
    "large_load",
    "large_spend",
    "card_velocity",
    "terminal_card_checks",
    "balance_transfer",
    "manual_adjustment",
)
_NEEDS = {
    "wrong_pins": ("threshold_count",),
    "large_load": ("threshold_minor",),
    "large_spend": ("threshold_minor",),
    "card_velocity": ("threshold_count", "window_minutes"),
    "terminal_card_checks": ("threshold_count", "window_minutes"),
    "balance_transfer": (),
    "manual_adjustment": (),
}
RULE_CACHE_SECONDS = 5.0
_LOAD_KINDS = ("activation", "load")
_SPEND_KINDS = ("spend", "authorisation")
ALERT_MAIL = "gift_card_alert"


class GiftCardAlerts:
    def __init__(self, database: Database, clock: Clock, outbox: Outbox, mail_from: str):
        self.database = database
        self.clock = clock
        self.outbox = outbox
        self.mail_from = mail_from
        outbox.register(MessageKind(ALERT_MAIL))
        self._rules: dict[uuid.UUID, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    # Rules -----------------------------------------------------------------------------

    def create_rule(self, caller: Principal, values: dict[str, Any]) -> dict[str, Any]:
        caller.require("manager")
        kind = values["kind"]
        if kind not in ALERT_KINDS:
            raise errors.InvalidInput(f"Alert kinds: {', '.join(ALERT_KINDS)}.")
        missing = [name for name in _NEEDS[kind] if not values.get(name)]
        if missing:
            raise errors.InvalidInput(f"A {kind} rule needs {', '.join(missing)}.")
        if not (values.get("notify_head_office") or values.get("notify_store_manager")):
            raise errors.InvalidInput("A rule notifies the head office, the store manager or both.")
        rule_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(gift_card_alert_rules).values(
                    merchant_id=caller.merchant_id,
                    id=rule_id,
                    kind=kind,
                    program_id=values.get("program_id"),
                    threshold_count=values.get("threshold_count"),
                    threshold_minor=values.get("threshold_minor"),
                    window_minutes=values.get("window_minutes"),
                    notify_head_office=bool(values.get("notify_head_office")),
                    notify_store_manager=bool(values.get("notify_store_manager")),
                    active=True,
                    created_at=self.clock.now(),
                )
            )
        self._forget(caller.merchant_id)
        return self._rule(caller.merchant_id, rule_id)

    def list_rules(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[dict[str, Any]]:
        """The merchant's alert rules, oldest first."""
        caller.require("manager")
        query = select(gift_card_alert_rules).where(
            gift_card_alert_rules.c.merchant_id == caller.merchant_id
        )
        order = Order(
            "gift_card_alert_rules",
            (gift_card_alert_rules.c.created_at, gift_card_alert_rules.c.id),
        )
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)

    def set_rule_active(self, caller: Principal, rule_id: uuid.UUID, active: bool) -> dict:
        caller.require("manager")
        self._rule(caller.merchant_id, rule_id)
        with self.database.transaction() as connection:
            connection.execute(
                update(gift_card_alert_rules)
                .where(
                    gift_card_alert_rules.c.merchant_id == caller.merchant_id,
                    gift_card_alert_rules.c.id == rule_id,
                )
                .values(active=active)
            )
        self._forget(caller.merchant_id)
        return self._rule(caller.merchant_id, rule_id)

    def list_alerts(
        self, caller: Principal, *, kind: str | None = None, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        """The alerts raised, newest first."""
        caller.require("manager")
        query = select(gift_card_alerts).where(gift_card_alerts.c.merchant_id == caller.merchant_id)
        if kind is not None:
            query = query.where(gift_card_alerts.c.kind == kind)
        order = Order(
            "gift_card_alerts",
            (gift_card_alerts.c.created_at, gift_card_alerts.c.id),
            descending=True,
        )
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(dict)

    def _rule(self, merchant_id: uuid.UUID, rule_id: uuid.UUID) -> dict[str, Any]:
        with self.database.read() as connection:
            row = (
                connection.execute(
                    select(gift_card_alert_rules).where(
                        gift_card_alert_rules.c.merchant_id == merchant_id,
                        gift_card_alert_rules.c.id == rule_id,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise errors.NotFound("No such alert rule.")
        return dict(row)

    def _active_rules(self, merchant_id: uuid.UUID, kinds: tuple[str, ...]) -> list[dict]:
        cached = self._rules.get(merchant_id)
        if cached is None or cached[0] <= time.monotonic():
            with self.database.read() as connection:
                rules = [
                    dict(row)
                    for row in connection.execute(
                        select(gift_card_alert_rules).where(
                            gift_card_alert_rules.c.merchant_id == merchant_id,
                            gift_card_alert_rules.c.active.is_(True),
                        )
                    ).mappings()
                ]
            with self._lock:
                self._rules[merchant_id] = (time.monotonic() + RULE_CACHE_SECONDS, rules)
            cached = self._rules[merchant_id]
        return [rule for rule in cached[1] if rule["kind"] in kinds]

    def _forget(self, merchant_id: uuid.UUID) -> None:
        with self._lock:
            self._rules.pop(merchant_id, None)

    # Evaluation ------------------------------------------------------------------------

    def after_operation(self, operation: Any) -> None:
        """Check the rules an operation may trip."""
        kinds = ["card_velocity"]
        if operation.kind in _LOAD_KINDS:
            kinds.append("large_load")
        if operation.kind in _SPEND_KINDS:
            kinds.append("large_spend")
        if operation.kind == "transfer_out":
            kinds.append("balance_transfer")
        if operation.kind == "adjustment":
            kinds.append("manual_adjustment")
        merchant_id = operation.merchant_id
        for rule in self._active_rules(merchant_id, tuple(kinds)):
            if rule["program_id"] not in (None, operation.program_id):
                continue
            summary = self._operation_summary(rule, operation)
            if summary is not None:
                self._raise(
                    merchant_id,
                    rule,
                    summary,
                    card_id=operation.card_id,
                    store_id=operation.store_id,
                    terminal_id=operation.terminal_id,
                    details={
                        "operation_id": str(operation.id),
                        "kind": operation.kind,
                        "amount_minor": operation.amount_minor,
                        "asset": operation.asset_code,
                    },
                )

    def _operation_summary(self, rule: dict[str, Any], operation: Any) -> str | None:
        kind = rule["kind"]
        last4 = operation.number_last4
        if kind in ("large_load", "large_spend"):
            if operation.amount_minor < rule["threshold_minor"]:
                return None
            verb = "load" if kind == "large_load" else "spend"
            return (
                f"A {verb} of {operation.amount_minor} {operation.asset_code} (minor units) "
                f"on card …{last4}."
            )
        if kind == "balance_transfer":
            return f"The balance of card …{last4} ({operation.amount_minor}) moved to a new card."
        if kind == "manual_adjustment":
            return f"A manual adjustment of {operation.amount_minor} on card …{last4}."
        assert kind == "card_velocity"
        since = self.clock.now() - timedelta(minutes=rule["window_minutes"])
        with self.database.read() as connection:
            count = connection.execute(
                select(func.count())
                .select_from(gift_card_operations)
                .where(
                    gift_card_operations.c.merchant_id == operation.merchant_id,
                    gift_card_operations.c.card_id == operation.card_id,
                    gift_card_operations.c.created_at > since,
                )
            ).scalar_one()
        if count != rule["threshold_count"] + 1:
            return None
        return f"Card …{last4} had {count} operations within {rule['window_minutes']} minutes."

    def after_wrong_pin(
        self, caller: Principal, card: CardRow, failures: int, locked: bool
    ) -> None:
        for rule in self._active_rules(caller.merchant_id, ("wrong_pins",)):
            if rule["program_id"] not in (None, card.program_id):
                continue
            if failures != rule["threshold_count"] and not (
                locked and failures < rule["threshold_count"]
            ):
                continue
            state = " The card is locked." if locked else ""
            self._raise(
                caller.merchant_id,
                rule,
                f"{failures} wrong PINs in a row on card …{card.number_last4}.{state}",
                card_id=card.id,
                store_id=caller.store_id,
                terminal_id=caller.terminal_id,
                details={"wrong_pins": failures, "locked": locked},
            )

    def after_lookup(self, caller: Principal) -> None:
        if caller.terminal_id is None:
            return
        for rule in self._active_rules(caller.merchant_id, ("terminal_card_checks",)):
            since = self.clock.now() - timedelta(minutes=rule["window_minutes"])
            with self.database.read() as connection:
                cards = connection.execute(
                    select(func.count(distinct(gift_card_lookups.c.number_hash))).where(
                        gift_card_lookups.c.merchant_id == caller.merchant_id,
                        gift_card_lookups.c.terminal_id == caller.terminal_id,
                        gift_card_lookups.c.created_at > since,
                    )
                ).scalar_one()
                # Crossing the threshold raises it once; the same card checked again does not.
                already = connection.execute(
                    select(func.count())
                    .select_from(gift_card_alerts)
                    .where(
                        gift_card_alerts.c.merchant_id == caller.merchant_id,
                        gift_card_alerts.c.rule_id == rule["id"],
                        gift_card_alerts.c.terminal_id == caller.terminal_id,
                        gift_card_alerts.c.created_at > since,
                    )
                ).scalar_one()
            if cards > rule["threshold_count"] and not already:
                self._raise(
                    caller.merchant_id,
                    rule,
                    f"{cards} different cards checked from one terminal within "
                    f"{rule['window_minutes']} minutes.",
                    card_id=None,
                    store_id=caller.store_id,
                    terminal_id=caller.terminal_id,
                    details={"cards_checked": cards},
                )

    # Raising and mailing ---------------------------------------------------------------

    def _raise(
        self,
        merchant_id: uuid.UUID,
        rule: dict[str, Any],
        summary: str,
        *,
        card_id: uuid.UUID | None,
        store_id: uuid.UUID | None,
        terminal_id: uuid.UUID | None,
        details: dict[str, Any],
    ) -> None:
        recipients = self._recipients(merchant_id, rule, store_id)
        alert_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            connection.execute(
                insert(gift_card_alerts).values(
                    merchant_id=merchant_id,
                    id=alert_id,
                    rule_id=rule["id"],
                    kind=rule["kind"],
                    card_id=card_id,
                    store_id=store_id,
                    terminal_id=terminal_id,
                    summary=summary,
                    details=details,
                    mailed_to=recipients,
                    created_at=now,
                )
            )
            emit(
                connection,
                merchant_id,
                "alert.raised",
                {
                    "alert_id": str(alert_id),
                    "rule_id": str(rule["id"]),
                    "kind": rule["kind"],
                    "summary": summary,
                    "card_id": str(card_id) if card_id else None,
                    "store_id": str(store_id) if store_id else None,
                    "terminal_id": str(terminal_id) if terminal_id else None,
                },
                now=now,
            )
            for recipient in recipients:
                self.outbox.enqueue(
                    connection,
                    merchant_id=merchant_id,
                    kind=ALERT_MAIL,
                    recipient=recipient,
                    now=now,
                    reference_id=alert_id,
                    mail=compose(
                        self.mail_from,
                        recipient,
                        f"Gift card alert: {rule['kind']}",
                        f"{summary}\n\nAlert {alert_id}, {now.isoformat()}.\n"
                        f"Card: {card_id or '-'}; store: {store_id or '-'}; "
                        f"terminal: {terminal_id or '-'}.\n",
                    ),
                )

    def _recipients(
        self, merchant_id: uuid.UUID, rule: dict[str, Any], store_id: uuid.UUID | None
    ) -> list[str]:
        recipients = []
        with self.database.read() as connection:
            if rule["notify_head_office"]:
                head_office = connection.execute(
                    select(merchants.c.head_office_email).where(merchants.c.id == merchant_id)
                ).scalar()
                if head_office:
                    recipients.append(head_office)
            if rule["notify_store_manager"] and store_id is not None:
                manager = connection.execute(
                    select(stores.c.manager_email).where(
                        stores.c.merchant_id == merchant_id, stores.c.id == store_id
                    )
                ).scalar()
                if manager and manager not in recipients:
                    recipients.append(manager)
        return recipients
