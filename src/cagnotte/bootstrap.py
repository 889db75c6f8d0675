"""The composition root: builds the real pieces from settings; tests pass their own."""

from __future__ import annotations

from dataclasses import dataclass

from cagnotte.catalogue.service import CatalogueService
from cagnotte.checkout.service import Checkout
from cagnotte.clock import Clock, SystemClock
from cagnotte.config import Settings
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.mail import Mailer, build_mailer
from cagnotte.merchants.service import MerchantService
from cagnotte.programs.bonus_codes.service import BonusCodeService
from cagnotte.programs.gift_cards import GiftCardService
from cagnotte.programs.loyalty.admin import LoyaltyPrograms
from cagnotte.programs.wallets import WalletService
from cagnotte.security.auth import AuthService
from cagnotte.security.captcha import CaptchaService


@dataclass
class Services:
    settings: Settings
    database: Database
    clock: Clock
    mailer: Mailer
    ledger: Ledger
    units: UnitsOfWork
    merchants: MerchantService
    customers: CustomerService
    wallets: WalletService
    auth: AuthService
    gift_cards: GiftCardService
    captchas: CaptchaService
    bonus_codes: BonusCodeService
    loyalty: LoyaltyPrograms
    checkout: Checkout
    catalogue: CatalogueService

    def close(self) -> None:
        self.database.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    database: Database | None = None,
    captchas: CaptchaService | None = None,
) -> Services:
    settings = settings or Settings()
    clock = clock or SystemClock()
    mailer = mailer or build_mailer(settings)
    database = database or Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_timeout_seconds=settings.database_pool_timeout_seconds,
        busy_timeout_seconds=settings.database_busy_timeout_seconds,
    )
    ledger = Ledger(database, clock)
    units = UnitsOfWork(database, clock)
    customers = CustomerService(database, clock, ledger)
    merchants = MerchantService(database, clock, settings.api_key_cache_seconds)
    gift_cards = GiftCardService(
        database,
        clock,
        ledger,
        customers,
        merchants,
        mailer,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        number_key=settings.gift_card_number_key,
        units=units,
    )
    captchas = captchas or CaptchaService(database, clock)
    loyalty = LoyaltyPrograms(database, clock, ledger, units, merchants)
    wallets = WalletService(database, clock, ledger, customers, units)
    catalogue = CatalogueService(database, units)
    return Services(
        settings=settings,
        database=database,
        clock=clock,
        mailer=mailer,
        ledger=ledger,
        units=units,
        merchants=merchants,
        customers=customers,
        wallets=wallets,
        auth=AuthService(database, clock, mailer, settings.mail_from),
        gift_cards=gift_cards,
        captchas=captchas,
        bonus_codes=BonusCodeService(
            database,
            clock,
            ledger,
            mailer,
            captchas,
            mail_from=settings.mail_from,
            bonus_value_max_minor=settings.bonus_value_max_minor,
            platform_bank_account=settings.platform_bank_account,
            units=units,
        ),
        loyalty=loyalty,
        checkout=Checkout(
            database,
            clock,
            ledger,
            units,
            customers,
            loyalty,
            wallets,
            catalogue=catalogue,
            refund_cashier_max_minor=settings.check_refund_cashier_max_minor,
        ),
        catalogue=catalogue,
    )
