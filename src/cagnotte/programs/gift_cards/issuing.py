"""Issuing cards: a new card and its account, and the e-card an e-store sells and mails.

A card's number is drawn at random (`numbers`) and stored only as a keyed hash
and its last four digits; its PIN only as an argon2 hash. An e-card's page
token is not stored either: the page's address carries it, and the number is
sealed with a key derived from it.

Errors: forbidden (a reseller and a program it may not sell), invalid_input
(a personal message too long), not_found (an e-card page of no card), and
those of the activation (cards.CardLoading.activate_card).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db import lookups
from cagnotte.db.engine import Database
from cagnotte.db.lookups import LookupKind
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.mail import Mailer
from cagnotte.merchants.service import MerchantService
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.cards import CardLoading
from cagnotte.programs.gift_cards.ecards import compose_ecard_mail
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.numbers import (
    new_card_number,
    new_pin,
    seal_number,
    unseal_number,
)
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.pins import hash_pin
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.views import IssuedCard, card_view
from cagnotte.security.principals import Principal
from cagnotte.security.secrets_ import token_hash

NUMBER_COLLISION_RETRIES = 5
ECARD_MESSAGE_LENGTH_MAX = 500
PAGE_TOKEN_BYTES = 24


class CardIssuer:
    """Makes new inactive cards, with their ledger accounts, in the caller's transaction."""

    def __init__(self, clock: Clock, accounts: CardAccounts, numbers: NumberKey) -> None:
        self.clock = clock
        self.accounts = accounts
        self.numbers = numbers

    def create_card(
        self,
        connection: Connection,
        program: Program,
        kind: str,
        *,
        batch_id: uuid.UUID | None = None,
        batch_sequence: int | None = None,
        recipient_email: str | None = None,
        page_token: str | None = None,
    ) -> IssuedCard:
        """A new inactive card and its ledger account, in the caller's transaction."""
        card_id = uuid.uuid4()
        account = self.accounts.open_card_account(program, card_id, connection)
        number, digest = self._free_number(connection, program)
        pin = new_pin(program.pin_length) if program.pin_required else None
        if page_token:
            # 192 random bits: a hash already taken means a broken random source.
            claimed = lookups.claim(
                connection,
                LookupKind.ECARD_PAGE,
                token_hash(page_token),
                program.merchant_id,
                card_id,
                self.clock.now(),
            )
            assert claimed, "an e-card page token is taken already"
        repository.insert_card(
            connection,
            dict(
                merchant_id=program.merchant_id,
                id=card_id,
                program_id=program.id,
                kind=kind,
                state="inactive",
                number_hash=digest,
                number_key_id=self.numbers.keys().newest_id,
                number_last4=number[-4:],
                pin_hash=hash_pin(number, pin) if pin else None,
                pin_failures=0,
                account_id=account.id,
                batch_id=batch_id,
                batch_sequence=batch_sequence,
                recipient_email=recipient_email,
                page_token_hash=token_hash(page_token) if page_token else None,
                number_sealed=seal_number(page_token, number) if page_token else None,
                created_at=self.clock.now(),
            ),
        )
        card = repository.card(connection, program.merchant_id, card_id)
        return IssuedCard(card=card_view(card, 0, 0, program.asset_code), number=number, pin=pin)

    def _free_number(self, connection: Connection, program: Program) -> tuple[str, str]:
        """A random number of the program's format that no card of the merchant has."""
        for _attempt in range(NUMBER_COLLISION_RETRIES):
            number = new_card_number(
                program.number_length, program.number_prefix, program.number_luhn
            )
            # Taken under any key: a card under an older key keeps its number.
            if not repository.number_hash_taken(
                connection, program.merchant_id, self.numbers.hashes(number)
            ):
                return number, self.numbers.hash(number)
        # Only with billions of cards in one program.
        raise errors.Conflict("No free card number; widen the program's numbers.")


class ECards:
    """E-cards: sold by an e-store, issued, loaded and mailed to their recipient."""

    def __init__(
        self,
        database: Database,
        merchants: MerchantService,
        mailer: Mailer,
        *,
        mail_from: str,
        public_url: str,
        issuer: CardIssuer,
        loading: CardLoading,
        programs: ProgramCatalogue,
        resellers: Resellers,
        operations: CardOperations,
        queries: CardQueries,
    ) -> None:
        self.database = database
        self.merchants = merchants
        self.mailer = mailer
        self.mail_from = mail_from
        self.public_url = public_url.rstrip("/")
        self.issuer = issuer
        self.loading = loading
        self.programs = programs
        self.resellers = resellers
        self.operations = operations
        self.queries = queries

    def issue_ecard(
        self,
        caller: Principal,
        *,
        program_id: uuid.UUID,
        amount: int,
        recipient_email: str,
        recipient_name: str | None,
        sender_name: str | None,
        message: str | None,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> IssuedCard:
        """An e-store sells a virtual card: issued, loaded, and mailed to the recipient."""
        self.resellers.require_seller(caller, program_id)
        if message is not None and len(message) > ECARD_MESSAGE_LENGTH_MAX:
            raise errors.InvalidInput("The personal message is too long.")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            card = self.queries.get_card(caller, replay[0].card_id, check_role=False)
            return IssuedCard(card=card, number="", pin=None, operation=replay[0])
        program = self.programs.program(caller.merchant_id, program_id)
        self.issuer.numbers.value()  # made before the transaction takes the write lock
        page_token = secrets.token_urlsafe(PAGE_TOKEN_BYTES)
        with self.database.transaction() as connection:
            issued = self.issuer.create_card(
                connection,
                program,
                "virtual",
                recipient_email=recipient_email,
                page_token=page_token,
            )
        operation = self.loading.activate_card(
            caller, program, issued.card["id"], amount, invoice_number, idempotency
        )
        page_url = f"{self.public_url}/gift-cards/e/{page_token}"
        self._send(
            caller.merchant_id,
            program,
            issued,
            amount,
            page_url,
            recipient_email,
            {
                "recipient_name": recipient_name,
                "sender_name": sender_name,
                "message": message,
            },
        )
        card = self.queries.get_card(caller, issued.card["id"], check_role=False)
        return IssuedCard(
            card=card, number=issued.number, pin=issued.pin, page_url=page_url, operation=operation
        )

    def ecard_page(self, page_token: str) -> dict[str, Any]:
        """What the e-card's own page shows: merchant, number, balance (never the PIN)."""
        with self.database.read() as connection:
            card = repository.card_by_page_token_hash(connection, token_hash(page_token))
        if card is None:
            raise errors.NotFound(repository.NO_SUCH_CARD)
        merchant_name = self.merchants.merchant_names([card.merchant_id])[card.merchant_id]
        program = self.programs.program(card.merchant_id, card.program_id)
        asset = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        view = self.queries.view(card)
        return {
            **view,
            "number": unseal_number(page_token, card.number_sealed),
            "merchant_name": merchant_name,
            "program_name": program.name,
            "balance_text": asset.format(view["balance_minor"]),
            "available_text": asset.format(view["available_minor"]),
        }

    def _send(
        self,
        merchant_id: uuid.UUID,
        program: Program,
        issued: IssuedCard,
        amount: int,
        page_url: str,
        recipient_email: str,
        personal: dict[str, str | None],
    ) -> None:
        asset = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        merchant_name = self.merchants.merchant_names([merchant_id])[merchant_id]
        self.mailer.send(
            compose_ecard_mail(
                sender=self.mail_from,
                to=recipient_email,
                merchant_name=merchant_name,
                amount_text=asset.format(amount),
                number=issued.number,
                pin=issued.pin,
                page_url=page_url,
                **personal,
            )
        )
