"""The composition root: builds the real pieces from settings; tests pass their own."""

from __future__ import annotations

from dataclasses import dataclass

from cagnotte.catalogue.service import CatalogueService
from cagnotte.checkout.service import Checkout
from cagnotte.clock import Clock, SystemClock
from cagnotte.config import Settings
from cagnotte.crm.birthday_messages import BirthdayMessages
from cagnotte.crm.campaigns import Campaigns
from cagnotte.crm.card import CustomerCards
from cagnotte.crm.consents import Consents
from cagnotte.crm.privacy import PersonalData
from cagnotte.crm.segments import Segments
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.mail import Mailer, build_mailer
from cagnotte.merchants.service import MerchantService
from cagnotte.metrics import instrument_database
from cagnotte.outbox import Outbox
from cagnotte.programs.bonus_codes.service import BonusCodeService
from cagnotte.programs.gift_cards import GiftCardService
from cagnotte.programs.loyalty.admin import LoyaltyPrograms
from cagnotte.programs.wallets import WalletService
from cagnotte.security.attempts import AttemptLimiter
from cagnotte.security.auth import AuthService
from cagnotte.security.captcha import CaptchaService
from cagnotte.statistics.service import CheckStatistics
from cagnotte.webhooks.service import WebhookService


@dataclass
class Services:
    settings: Settings
    database: Database
    clock: Clock
    mailer: Mailer
    attempts: AttemptLimiter
    # Mail owed, written by the use cases in their transactions; the jobs send it.
    outbox: Outbox
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
    statistics: CheckStatistics
    customer_cards: CustomerCards
    personal_data: PersonalData
    consents: Consents
    segments: Segments
    campaigns: Campaigns
    # The birthday mail (crm/birthday_messages.py), written by its job.
    birthday_messages: BirthdayMessages
    catalogue: CatalogueService
    # Merchants' endpoints; their deliveries go through the outbox.
    webhooks: WebhookService

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
    # Before anything is built: a production service without its keys does not start.
    settings.require_production_keys()
    clock = clock or SystemClock()
    # Refuses the file outbox outside development (MailNotConfigured).
    mailer = mailer or build_mailer(settings, clock)
    database = database or Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_timeout_seconds=settings.database_pool_timeout_seconds,
        busy_timeout_seconds=settings.database_busy_timeout_seconds,
    )
    # The pool's connections in use and the committed entries, for /metrics.
    instrument_database(database)
    outbox = Outbox(database, clock, mailer)
    webhooks = WebhookService(database, clock, development=settings.is_development)
    webhooks.register(outbox)
    ledger = Ledger(database, clock, group_commit=settings.ledger_group_commit)
    # Every lockout counts its attempts here (security/attempts.py).
    attempts = AttemptLimiter(database, clock)
    units = UnitsOfWork(database, clock)
    customers = CustomerService(database, clock, ledger)
    merchants = MerchantService(database, clock, settings.api_key_cache_seconds)
    gift_cards = GiftCardService(
        database,
        clock,
        ledger,
        customers,
        merchants,
        outbox,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        number_keys=settings.gift_card_number_keys,
        pin_keys=settings.gift_card_pin_keys,
        units=units,
        attempts=attempts,
    )
    captchas = captchas or CaptchaService(database, clock)
    loyalty = LoyaltyPrograms(database, clock, ledger, units, merchants)
    segments = Segments(database, clock, loyalty)
    consents = Consents(database, clock)
    wallets = WalletService(database, clock, ledger, customers, units, webhooks=webhooks)
    catalogue = CatalogueService(database, units)
    campaigns = Campaigns(
        database,
        clock,
        ledger,
        outbox,
        segments,
        consents,
        loyalty,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
    )
    return Services(
        settings=settings,
        database=database,
        clock=clock,
        mailer=mailer,
        attempts=attempts,
        outbox=outbox,
        ledger=ledger,
        units=units,
        merchants=merchants,
        customers=customers,
        wallets=wallets,
        auth=AuthService(database, clock, outbox, settings.mail_from, attempts=attempts),
        gift_cards=gift_cards,
        captchas=captchas,
        bonus_codes=BonusCodeService(
            database,
            clock,
            ledger,
            outbox,
            captchas,
            mail_from=settings.mail_from,
            bonus_value_max_minor=settings.bonus_value_max_minor,
            platform_bank_account=settings.campaign_bank_account,
            units=units,
            code_keys=settings.bonus_code_keys,
            attempts=attempts,
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
            gift_cards=gift_cards,
            segments=segments,
        ),
        statistics=CheckStatistics(database, segments),
        customer_cards=CustomerCards(database, ledger, customers, loyalty, gift_cards),
        personal_data=PersonalData(database, clock, ledger),
        consents=consents,
        segments=segments,
        campaigns=campaigns,
        birthday_messages=BirthdayMessages(database, clock, outbox, campaigns, consents),
        catalogue=catalogue,
        webhooks=webhooks,
    )
