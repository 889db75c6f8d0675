"""Batches of plastic cards: made inactive, exported once for the printer, then activated.

The printer's file is the only time the numbers and PINs are shown: they are
kept (plain) only until that one export, which deletes them.

Errors: forbidden (a role below manager), not_found, invalid_input (a batch
size out of range; a number that is not a card of the batch),
batch_already_exported, and those of the activation of each card.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.programs.gift_cards import setup_repository
from cagnotte.programs.gift_cards.cards import CardLoading
from cagnotte.programs.gift_cards.issuing import CardIssuer
from cagnotte.programs.gift_cards.numbers import normalise_number
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.rows import Batch
from cagnotte.programs.gift_cards.views import BatchActivation
from cagnotte.security.principals import Principal

BATCH_CARDS_MAX = 5_000


class Batches:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        programs: ProgramCatalogue,
        issuer: CardIssuer,
        loading: CardLoading,
    ) -> None:
        self.database = database
        self.clock = clock
        self.programs = programs
        self.issuer = issuer
        self.loading = loading

    def create_batch(
        self, caller: Principal, program_id: uuid.UUID, card_count: int, note: str | None
    ) -> Batch:
        """N inactive plastic cards; their numbers and PINs wait for the one export."""
        caller.require("manager")
        if not 1 <= card_count <= BATCH_CARDS_MAX:
            raise errors.InvalidInput(f"A batch has 1 to {BATCH_CARDS_MAX} cards.")
        program = self.programs.program(caller.merchant_id, program_id)
        self.issuer.prepare_keys()  # made before the transaction takes the write lock
        batch_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            setup_repository.insert_batch(
                connection,
                {
                    "merchant_id": caller.merchant_id,
                    "id": batch_id,
                    "program_id": program_id,
                    "card_count": card_count,
                    "note": note,
                    "created_at": now,
                },
            )
            for sequence in range(1, card_count + 1):
                issued = self.issuer.create_card(
                    connection, program, "plastic", batch_id=batch_id, batch_sequence=sequence
                )
                setup_repository.insert_batch_secret(
                    connection,
                    {
                        "merchant_id": caller.merchant_id,
                        "batch_id": batch_id,
                        "batch_sequence": sequence,
                        "card_id": issued.card["id"],
                        "number": issued.number,
                        "pin": issued.pin,
                    },
                )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card_batch.created",
                batch_id,
                {"program_id": str(program_id), "cards": card_count},
                now,
            )
        return self.get_batch(caller, batch_id)

    def get_batch(self, caller: Principal, batch_id: uuid.UUID) -> Batch:
        caller.require("manager")
        with self.database.read() as connection:
            row = setup_repository.batch(connection, caller.merchant_id, batch_id)
            states = setup_repository.batch_states(connection, caller.merchant_id, batch_id)
        return Batch(
            merchant_id=row["merchant_id"],
            id=row["id"],
            program_id=row["program_id"],
            card_count=row["card_count"],
            note=row["note"],
            exported_at=row["exported_at"],
            created_at=row["created_at"],
            cards_by_state=states,
        )

    def export_batch(self, caller: Principal, batch_id: uuid.UUID) -> list[dict[str, Any]]:
        """The printer's file: numbers and PINs, once; afterwards only last digits remain."""
        caller.require("manager")
        now = self.clock.now()
        with self.database.transaction() as connection:
            # The batch exists and is this merchant's, or not_found.
            setup_repository.batch(connection, caller.merchant_id, batch_id)
            if not setup_repository.claim_batch_export(
                connection, caller.merchant_id, batch_id, now
            ):
                raise errors.BatchAlreadyExported()
            rows = setup_repository.take_batch_secrets(connection, caller.merchant_id, batch_id)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card_batch.exported",
                batch_id,
                {"cards": len(rows)},
                now,
            )
        return [
            {
                "sequence": row["batch_sequence"],
                "card_id": str(row["card_id"]),
                "number": row["number"],
                "pin": row["pin"] or "",
            }
            for row in rows
        ]

    def activate_batch(
        self,
        caller: Principal,
        batch_id: uuid.UUID,
        *,
        sequence_from: int | None = None,
        sequence_to: int | None = None,
        numbers: Sequence[str] | None = None,
        load_minor: int | None = None,
        idempotency: Idempotency = Idempotency(),
    ) -> BatchActivation:
        """Activate a whole batch, a range of it, or a list of its cards, each with a load."""
        caller.require("manager")
        batch = self.get_batch(caller, batch_id)
        program = self.programs.program(caller.merchant_id, batch.program_id)
        cards = self._selected_cards(caller, batch, sequence_from, sequence_to, numbers)
        activated, skipped, loaded = [], [], 0
        for card_id, state in cards:
            if state != "inactive":
                skipped.append(card_id)
                continue
            # Each card's activation is a request of its own, under a key derived from
            # the batch's; without a key (or with an empty one), none.
            card_idempotency = (
                idempotency.derived(str(card_id)) if idempotency.key else Idempotency()
            )
            operation = self.loading.activate_card(
                caller, program, card_id, load_minor, None, card_idempotency
            )
            activated.append(card_id)
            loaded += operation.amount_minor
        return BatchActivation(activated=activated, skipped=skipped, loaded_minor=loaded)

    def _selected_cards(
        self,
        caller: Principal,
        batch: Batch,
        sequence_from: int | None,
        sequence_to: int | None,
        numbers: Sequence[str] | None,
    ) -> list[tuple[uuid.UUID, str]]:
        """(card_id, state) of the batch's cards in the range or the list, or all of them."""
        sequences = None
        if sequence_from is not None or sequence_to is not None:
            sequences = (sequence_from or 1, sequence_to or BATCH_CARDS_MAX)
        hashes = None
        if numbers is not None:
            digits = [normalise_number(number) for number in numbers]
            if None in digits:
                raise errors.InvalidInput("A number in the list is not a card number.")
            # Each number under every key: a card of the batch may be under an older one.
            hashes = [
                digest
                for number in digits
                if number
                for digest in self.issuer.numbers.hashes(number)
            ]
        with self.database.read() as connection:
            cards = setup_repository.batch_cards(
                connection,
                caller.merchant_id,
                batch.id,
                sequences=sequences,
                number_hashes=hashes,
            )
        if numbers is not None and len(cards) != len(set(numbers)):
            raise errors.InvalidInput("A number in the list is not a card of this batch.")
        return cards
