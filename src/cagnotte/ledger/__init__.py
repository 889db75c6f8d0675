"""The double-entry ledger: accounts, transfers, holds, lots, balances. No HTTP here."""

from cagnotte.ledger.model import (
    Account,
    AccountSpec,
    Balance,
    EntryResult,
    Expire,
    Hold,
    Operation,
    PostHold,
    Reverse,
    Transfer,
    TransferRecord,
    VoidHold,
)
from cagnotte.ledger.service import Ledger

__all__ = [
    "Account",
    "AccountSpec",
    "Balance",
    "EntryResult",
    "Expire",
    "Hold",
    "Ledger",
    "Operation",
    "PostHold",
    "Reverse",
    "Transfer",
    "TransferRecord",
    "VoidHold",
]
