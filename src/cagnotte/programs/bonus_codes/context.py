"""What every bonus use case works with: storage, time, the ledger, its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.programs.bonus_codes.accounts import BonusAccounts
from cagnotte.security.platform_keys import platform_key

CODES_PER_CAMPAIGN_MAX = 1_000_000
DEFAULT_BONUS_VALUE_MAX_MINOR = {"CZK": 500_000, "EUR": 20_000}
PLATFORM_BANK_ACCOUNT = "72887288/0300"
# Plain codes are wiped this long after generation even if never downloaded.
PLAIN_CODES_KEPT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class BonusSettings:
    """The platform's limits and details for bonus campaigns."""

    mail_from: str
    # The most one bonus may be worth, per currency; a currency not named is not offered.
    bonus_value_max_minor: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_BONUS_VALUE_MAX_MINOR)
    )
    # Where merchants send a campaign's funds by bank transfer.
    platform_bank_account: str = PLATFORM_BANK_ACCOUNT


@dataclass(frozen=True, slots=True)
class BonusContext:
    """The pieces the use cases share (built once by the BonusCodeService)."""

    database: Database
    clock: Clock
    ledger: Ledger
    units: UnitsOfWork
    accounts: BonusAccounts
    settings: BonusSettings

    def code_key(self) -> bytes:
        """The key of the codes' keyed hashes. Fetch it before a unit of work:
        on first use it is made in a transaction of its own."""
        return platform_key(self.database, self.clock, "bonus_codes")
