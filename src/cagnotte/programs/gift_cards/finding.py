"""Finding a card by its number and PIN: one answer for every miss.

A wrong number, a wrong PIN, a locked card, another merchant's card and a card
of a program a reseller may not sell all get the same gift_card_invalid; where
no PIN is checked for real, a dummy check spends the same time, so that timing
does not tell a known card from an unknown one. An operation named by the
number alone (activation, load, the new card of a balance transfer) finds
only a card it may act on: any other card is a miss as well.

Guesses are counted by the attempt limiter (security/attempts.py), reserved
before anything is looked at, so that parallel requests cannot get around the
count:
- a PIN, per card, by its program's policy (pin_attempts_max wrong PINs, then
  locked for pin_lockout); a right PIN starts the count again;
- a number looked up without a PIN (the number is then the only secret), per
  terminal (else per API key, staff member or customer), NUMBER_LOOKUP_POLICY:
  a look-up that finds its card gives its attempt back, a miss keeps it.
  Spent, every such look-up of the caller is too_many_attempts (429, with
  `locked_until`) until the lock ends: an answer about the caller, the same
  for any number, that tells a till what is wrong. With a PIN, a miss answers
  like a wrong PIN and teaches nothing, so it is not counted against the
  caller: a shop's e-store key, which relays its customers' typing, is not
  locked by their typos on every card payment.
Failed look-ups and balance inquiries are also logged per terminal for the
alerts. All of it runs before the operation's unit of work, in short
transactions of its own; an argon2 PIN (a card from before the keyed hash) is
checked with no transaction open. A spend or authorisation with a PIN first
tries `find_in_unit`: the same counts, in the operation's own unit of work.

Errors: gift_card_invalid, too_many_attempts.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.numbers import normalise_number
from cagnotte.programs.gift_cards.pins import PinHash, PinKey, is_argon2, verify_pin
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.security.attempts import Attempt, AttemptLimiter, AttemptPolicy, AttemptRefused
from cagnotte.security.principals import Principal

PIN_SCOPE = "gift_card_pin"
# A wrong PIN counts towards the card's lock until a right one, or for this long.
PIN_ATTEMPTS_WINDOW = timedelta(days=1)
NUMBER_LOOKUP_SCOPE = "gift_card_number_lookup"
# Numbers have 8 to 12 random digits or more: twenty misses in ten minutes are
# plenty for typing errors and nothing for a guesser.
NUMBER_LOOKUP_POLICY = AttemptPolicy(
    attempts=20, window=timedelta(minutes=10), lock=timedelta(minutes=15)
)
# How long a request waits for parallel ones still checking their attempts (a PIN
# takes milliseconds) before it is refused: parallel right answers all go through.
PIN_SETTLE = timedelta(seconds=2)
LOOKUPS_SETTLE = timedelta(seconds=2)


def pin_subject(merchant_id: uuid.UUID, card_id: uuid.UUID) -> str:
    """Whose PIN attempts they are: the card's."""
    return f"{merchant_id}:{card_id}"


def pin_policy(program: Program) -> AttemptPolicy:
    return AttemptPolicy(
        attempts=program.pin_attempts_max, window=PIN_ATTEMPTS_WINDOW, lock=program.pin_lockout
    )


def lookup_subject(caller: Principal) -> str:
    """Whose number look-ups they are: the terminal's, else the key's, staff's or customer's."""
    for kind, value in (
        ("terminal", caller.terminal_id),
        ("key", caller.key_id),
        ("staff", caller.staff_id),
        ("customer", caller.customer_id),
    ):
        if value is not None:
            return f"{caller.merchant_id}:{kind}:{value}"
    raise AssertionError("a caller that looks cards up is named by something")


@dataclass(frozen=True, slots=True)
class FoundCard:
    """A card found by its number (and its PIN, when its program asks for one)."""

    card: CardRow
    program: Program
    number: str
    # The PIN was right under an older key or argon2: what the card should store now.
    pin_rehash: PinHash | None = None


@dataclass(frozen=True, slots=True)
class WrongPin:
    """A wrong PIN checked inside a unit of work, its attempt counted there: commit, then refuse."""

    caller: Principal
    card: CardRow
    attempt: Attempt
    locked_until: datetime | None


class NotInUnit(Exception):
    """The look-up cannot be finished inside the unit of work: roll it back, take the long way.

    A miss, a lock, an argon2 hash (too slow for a write transaction) or a card
    whose program's accounts are not known yet: nothing was counted.
    """


# Whether an operation named by the number alone may act on this card (else: a miss).
CardUse = Callable[[CardRow, Program], bool]


class CardFinder:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        alerts: GiftCardAlerts,
        programs: ProgramCatalogue,
        resellers: Resellers,
        numbers: NumberKey,
        pins: PinKey,
        attempts: AttemptLimiter,
    ) -> None:
        self.database = database
        self.clock = clock
        self.alerts = alerts
        self.programs = programs
        self.resellers = resellers
        self.numbers = numbers
        self.pins = pins
        self.attempts = attempts

    def find(
        self, caller: Principal, number: str, *, pin: str | None, defer_pin_rehash: bool = False
    ) -> FoundCard:
        """The card with this number and (when its program asks) PIN; one error for every miss.

        With a PIN given, every answer but the right PIN's is the same: a miss,
        a wrong PIN, and a PIN for a card that has none (a wrong PIN too, or a
        made-up PIN would probe numbers uncounted). Without one, the look-up is
        a number's alone, counted as find_by_number counts it. A PIN proven right
        under an older key (or argon2) is hashed again under the newest key: at
        once, or, with `defer_pin_rehash`, by the caller's unit of work
        (`FoundCard.pin_rehash`).
        """
        if pin is None:
            found = self._counted_look_up(caller, number, usable=None)
        else:
            found = self._look_up(caller, number, lookup=None, pin_given=True, usable=None)
            if not found.program.pin_required:
                self.pins.burn_check()
                self.record_lookup(caller, found.card.number_hash, succeeded=False)
                raise errors.GiftCardInvalid()
        if found.program.pin_required:
            self._check_pin(caller, found, pin)
            assert pin is not None
            found = self._with_pin_rehash(found, pin, defer=defer_pin_rehash)
        return self._rehashed(found)

    def _with_pin_rehash(self, found: FoundCard, pin: str, *, defer: bool) -> FoundCard:
        """The card's PIN hashed under the newest key, if it was not: now, or by the caller."""
        if not self.pins.needs_rehash(found.card.pin_key_id):
            return found
        rehash = self.pins.hash(found.number, pin)
        if defer:
            return dataclasses.replace(found, pin_rehash=rehash)
        with self.database.transaction() as connection:
            repository.rehash_pin(connection, found.card, rehash.digest, rehash.key_id)
        card = dataclasses.replace(found.card, pin_hash=rehash.digest, pin_key_id=rehash.key_id)
        return dataclasses.replace(found, card=card)

    def prepare_keys(self) -> None:
        """Fetch the number and PIN keys before a unit of work (in development they may be
        made, once, in a transaction of their own)."""
        self.numbers.keys()
        self.pins.keys()

    def find_in_unit(
        self, unit: UnitOfWork, caller: Principal, number: str, pin: str
    ) -> FoundCard | WrongPin:
        """The card with this number and PIN, found, locked and its PIN checked in `unit`.

        A keyed PIN check costs a microsecond, so a spend needs no transaction of
        its own for it: the PIN attempt is reserved in the unit's transaction,
        with the card's row locked (the order `unlock` takes them in too), and its
        outcome recorded there — a right PIN starts the count again and the spend
        goes on; a wrong one is counted (WrongPin: the caller commits, then
        refuses). The attempt's row stays locked until the unit ends, so parallel
        guesses at one card queue and each sees the count the previous left: at
        most the policy's number are checked, as with `find`. Everything else
        (a miss, a lock, attempts spent, an argon2 hash, a program without PINs)
        raises NotInUnit before anything is counted: the caller rolls back and
        calls `find`, which answers it as always.
        """
        digits = normalise_number(number)
        if not digits:
            raise NotInUnit()
        # Found and locked by one statement; a card it must not act on is let go by the
        # rollback that NotInUnit brings.
        card = repository.lock_card_by_number_hashes(unit, self.numbers.hashes(digits))
        if card is None or is_argon2(card.pin_hash, card.pin_key_id):
            raise NotInUnit()
        program = self.programs.program(caller.merchant_id, card.program_id, unit.connection)
        if not program.pin_required:
            raise NotInUnit()
        try:
            attempt = self.attempts.reserve(
                PIN_SCOPE,
                pin_subject(card.merchant_id, card.id),
                pin_policy(program),
                connection=unit.connection,
            )
        except AttemptRefused:
            raise NotInUnit() from None
        if not verify_pin(card.pin_hash, digits, pin, self.pins.keys(), card.pin_key_id):
            locked_until = self.attempts.failed(attempt, connection=unit.connection)
            self._insert_lookup(unit.connection, caller, card.number_hash, succeeded=False)
            return WrongPin(caller, card, attempt, locked_until)
        self.attempts.succeeded(attempt, connection=unit.connection)
        return FoundCard(
            card=self._rehashed_in(unit, card, digits, pin), program=program, number=digits
        )

    def _rehashed_in(self, unit: UnitOfWork, card: CardRow, digits: str, pin: str) -> CardRow:
        """The locked card with its number and PIN hashed under the newest keys, in `unit`."""
        number_keys = self.numbers.keys()
        if card.number_key_id != number_keys.newest_id:
            digest = self.numbers.hash(digits)
            repository.rehash_number(unit.connection, card, digest, number_keys.newest_id)
            card = dataclasses.replace(
                card, number_hash=digest, number_key_id=number_keys.newest_id
            )
        if self.pins.needs_rehash(card.pin_key_id):
            rehash = self.pins.hash(digits, pin)
            repository.rehash_pin(unit.connection, card, rehash.digest, rehash.key_id)
            card = dataclasses.replace(card, pin_hash=rehash.digest, pin_key_id=rehash.key_id)
        return card

    def after_wrong_pin(self, wrong: WrongPin) -> None:
        """The alerts of a wrong PIN counted in a unit of work, once it committed."""
        self.alerts.after_wrong_pin(
            wrong.caller, wrong.card, wrong.attempt.number, wrong.locked_until is not None
        )
        self.alerts.after_lookup(wrong.caller)

    def find_by_number(
        self, caller: Principal, number: str, usable: CardUse | None = None
    ) -> FoundCard:
        """The card with this number, for a request without a PIN; `usable` says what it may act on.

        The number is then the only secret: the look-up is counted against the
        caller before it is made (NUMBER_LOOKUP_POLICY) and a card the operation
        may not act on (its state, its program) gets the answer of no card.
        """
        return self._rehashed(self._counted_look_up(caller, number, usable=usable))

    def _counted_look_up(
        self, caller: Principal, number: str, *, usable: CardUse | None
    ) -> FoundCard:
        """A look-up without a PIN: reserved against the caller, given back when it finds."""
        try:
            lookup = self.attempts.reserve(
                NUMBER_LOOKUP_SCOPE,
                lookup_subject(caller),
                NUMBER_LOOKUP_POLICY,
                settle=LOOKUPS_SETTLE,
            )
        except AttemptRefused as refused:
            raise errors.TooManyAttempts(
                "Too many card numbers that name no card; try again later.",
                locked_until=refused.until.isoformat(),
            ) from None
        found = self._look_up(caller, number, lookup=lookup, pin_given=False, usable=usable)
        self.attempts.released(lookup)
        return found

    def _rehashed(self, found: FoundCard) -> FoundCard:
        """The card hashed under the newest number key, now that its number is proven."""
        return dataclasses.replace(found, card=self.numbers.rehashed(found.card, found.number))

    def record_lookup(self, caller: Principal, digest: str, *, succeeded: bool) -> None:
        with self.database.transaction() as connection:
            self._insert_lookup(connection, caller, digest, succeeded=succeeded)
        self.alerts.after_lookup(caller)

    def _look_up(
        self,
        caller: Principal,
        number: str,
        *,
        lookup: Attempt | None,
        pin_given: bool,
        usable: CardUse | None,
    ) -> FoundCard:
        """The card; a miss is logged (and its look-up attempt, if counted, kept) and refused."""
        digits = normalise_number(number)
        digest = self.numbers.hash(digits) if digits else ""
        card = None
        if digits:
            with self.database.read() as connection:
                card = repository.card_by_number_hashes(
                    connection, caller.merchant_id, self.numbers.hashes(digits)
                )
        program = self.programs.program(caller.merchant_id, card.program_id) if card else None
        if (
            card is None
            or program is None
            or (
                caller.role == "reseller"
                and program.id not in self.resellers.program_ids_of(caller)
            )
            or (usable is not None and not usable(card, program))
        ):
            if pin_given:
                self.pins.burn_check()
            with self.database.transaction() as connection:
                if lookup is not None:
                    self.attempts.failed(lookup, connection=connection)
                self._insert_lookup(connection, caller, digest, succeeded=False)
            self.alerts.after_lookup(caller)
            raise errors.GiftCardInvalid()
        assert digits is not None
        return FoundCard(card=card, program=program, number=digits)

    def _check_pin(self, caller: Principal, found: FoundCard, pin: str | None) -> None:
        """Reserve a PIN attempt on the card, then check the PIN with no transaction open."""
        card = found.card
        try:
            attempt = self.attempts.reserve(
                PIN_SCOPE,
                pin_subject(card.merchant_id, card.id),
                pin_policy(found.program),
                settle=PIN_SETTLE,
            )
        except AttemptRefused:  # locked: refused without looking at the PIN
            self.pins.burn_check()
            self.record_lookup(caller, card.number_hash, succeeded=False)
            raise errors.GiftCardInvalid() from None
        if pin is None or not verify_pin(
            card.pin_hash, found.number, pin, self.pins.keys(), card.pin_key_id
        ):
            self._count_wrong_pin(caller, card, attempt)
            raise errors.GiftCardInvalid()
        self.attempts.succeeded(attempt)

    def _count_wrong_pin(self, caller: Principal, card: CardRow, attempt: Attempt) -> None:
        """A wrong PIN: the last the program allows locks the card for a while."""
        with self.database.transaction() as connection:
            locked_until = self.attempts.failed(attempt, connection=connection)
            self._insert_lookup(connection, caller, card.number_hash, succeeded=False)
        # The attempt's number is the count of wrong PINs in a row, this one included.
        self.alerts.after_wrong_pin(caller, card, attempt.number, locked_until is not None)
        self.alerts.after_lookup(caller)

    def _insert_lookup(
        self, connection: Connection, caller: Principal, digest: str, *, succeeded: bool
    ) -> None:
        repository.insert_lookup(
            connection,
            caller.merchant_id,
            terminal_id=caller.terminal_id,
            store_id=caller.store_id,
            digest=digest,
            succeeded=succeeded,
            now=self.clock.now(),
        )
