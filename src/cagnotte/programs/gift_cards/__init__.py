"""Gift cards and prepaid cards (the DataCandy program): programs, cards, operations,
controls, alerts, resellers and reports, as rules over the ledger."""

from cagnotte.programs.gift_cards.service import GiftCardService

__all__ = ["GiftCardService"]
