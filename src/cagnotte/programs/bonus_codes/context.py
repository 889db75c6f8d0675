"""What every bonus use case works with: storage, time, the ledger, its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.accounts import BonusAccounts
from cagnotte.security.hash_keys import HashKeys, KeyUsage
from cagnotte.security.platform_keys import HashKeySource

CODES_PER_CAMPAIGN_MAX = 1_000_000
DEFAULT_BONUS_VALUE_MAX_MINOR = {"CZK": 500_000, "EUR": 20_000}
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
    # Where merchants send a campaign's funds by bank transfer; None when the platform
    # has none set, and then no campaign may be requested.
    platform_bank_account: str | None = None


@dataclass(frozen=True, slots=True)
class BonusContext:
    """The pieces the use cases share (built once by the BonusCodeService)."""

    database: Database
    clock: Clock
    ledger: Ledger
    units: UnitsOfWork
    accounts: BonusAccounts
    settings: BonusSettings
    # The keys of the codes' hashes: the setting's, or a platform key made once.
    code_key_source: HashKeySource

    def code_keys(self) -> HashKeys:
        """The keys of the codes' keyed hashes, newest first: new codes are hashed
        under the newest, a typed code is looked up under each. Fetch them before a
        unit of work: a platform key is made on first use in a transaction of its own."""
        return self.code_key_source.keys()

    def code_key(self) -> bytes:
        """The newest key of the codes' keyed hashes (see code_keys)."""
        return self.code_keys().newest

    def code_key_usage(self) -> KeyUsage:
        """How many codes that may still be redeemed are hashed under each key."""
        with self.database.read() as connection:
            counts = repository.code_key_counts(connection)
        return KeyUsage(key_ids=self.code_keys().ids, rows_by_key=counts)
