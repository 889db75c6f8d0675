"""Gift cards: the one entry point of the edges (routes, pages, jobs, the bench).

`GiftCardService` composes the use cases of this package and hands out their
methods; it holds no rules and no SQL of its own. Where each use case lives:

- `programs_admin`  programs: create, change, read (cached)
- `batches`         printed batches: create, export once, activate
- `issuing`         new cards and their accounts; e-cards, sold and mailed (outbox)
- `cards`           activation, reload, a manager's correction
- `spending`        spend, balance inquiry, authorise, capture, void, refund
- `transfers`       a card's whole balance to a new card
- `state`           freeze, unfreeze, close, lift a PIN lockout
- `registration`    a card registered to a member; the profile bonus
- `resellers`       distribution partners and what they may sell
- `expiry`          the job that closes expired cards
- `queries`         card views and histories

and beneath them: `finding` (a card by number and PIN, one answer for every
miss), `number_keys` and `pins` (the keys of the number and PIN hashes, and
their rotation),
`operating` (the unit of work of an operation on one card), `tender` and
`plans` (what an operation would do, as a `tenders.Plan`), `repository` and
`setup_repository` (the SQL), `rows` (typed rows), `program` (a program's one
list of settings), `rules` (pure rules), `accounts` (the ledger accounts).

Errors: those listed by each use case's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cagnotte.clock import Clock
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.merchants.service import MerchantService
from cagnotte.outbox import Outbox
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.batches import Batches
from cagnotte.programs.gift_cards.cards import CardLoading
from cagnotte.programs.gift_cards.expiry import CardExpiry
from cagnotte.programs.gift_cards.finding import CardFinder
from cagnotte.programs.gift_cards.issuing import CardIssuer, ECards
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.pins import PinKey
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.registration import Registration
from cagnotte.programs.gift_cards.reports import GiftCardReports
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.spending import Spending
from cagnotte.programs.gift_cards.state import CardStates
from cagnotte.programs.gift_cards.tender import GiftCardTender
from cagnotte.programs.gift_cards.transfers import BalanceTransfers
from cagnotte.security.attempts import AttemptLimiter


@dataclass(frozen=True, slots=True)
class _UseCases:
    """The package's use cases, each built once with what it needs."""

    programs: ProgramCatalogue
    batches: Batches
    ecards: ECards
    queries: CardQueries
    loading: CardLoading
    spending: Spending
    transfers: BalanceTransfers
    states: CardStates
    registration: Registration
    resellers: Resellers
    expiry: CardExpiry
    numbers: NumberKey
    pins: PinKey


def _compose(
    database: Database,
    clock: Clock,
    ledger: Ledger,
    customers: CustomerService,
    merchants: MerchantService,
    outbox: Outbox,
    units: UnitsOfWork,
    alerts: GiftCardAlerts,
    accounts: CardAccounts,
    attempts: AttemptLimiter,
    *,
    mail_from: str,
    public_url: str,
    number_keys: Sequence[bytes],
    pin_keys: Sequence[bytes],
) -> _UseCases:
    numbers = NumberKey(database, clock, number_keys)
    pins = PinKey(database, clock, tuple(pin_keys))
    resellers = Resellers(database, clock, merchants)
    programs = ProgramCatalogue(database, clock, merchants, resellers)
    finder = CardFinder(database, clock, alerts, programs, resellers, numbers, pins, attempts)
    queries = CardQueries(database, accounts, programs, customers, numbers, attempts)
    operations = CardOperations(units, ledger, accounts, programs, resellers, alerts)
    loading = CardLoading(finder, operations, resellers, queries, programs)
    issuer = CardIssuer(clock, accounts, numbers, pins)
    return _UseCases(
        programs=programs,
        batches=Batches(database, clock, programs, issuer, loading),
        ecards=ECards(
            database,
            clock,
            merchants,
            outbox,
            mail_from=mail_from,
            public_url=public_url,
            issuer=issuer,
            programs=programs,
            resellers=resellers,
            operations=operations,
            queries=queries,
        ),
        queries=queries,
        loading=loading,
        spending=Spending(finder, operations, accounts, resellers, queries),
        transfers=BalanceTransfers(
            units, ledger, accounts, programs, finder, resellers, operations, alerts
        ),
        states=CardStates(units, ledger, queries, attempts),
        registration=Registration(units, customers, finder, operations, queries),
        resellers=resellers,
        expiry=CardExpiry(database, clock, units, ledger, accounts, programs, operations, alerts),
        numbers=numbers,
        pins=pins,
    )


class GiftCardService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        customers: CustomerService,
        merchants: MerchantService,
        outbox: Outbox,
        *,
        mail_from: str,
        public_url: str,
        number_keys: Sequence[bytes] = (),
        pin_keys: Sequence[bytes] = (),
        units: UnitsOfWork | None = None,
        attempts: AttemptLimiter | None = None,
    ) -> None:
        self.alerts = GiftCardAlerts(database, clock, outbox, mail_from)
        self.reports = GiftCardReports(database)
        accounts = CardAccounts(ledger)
        use = _compose(
            database,
            clock,
            ledger,
            customers,
            merchants,
            outbox,
            units or UnitsOfWork(database, clock),
            self.alerts,
            accounts,
            attempts or AttemptLimiter(database, clock),
            mail_from=mail_from,
            public_url=public_url,
            number_keys=number_keys,
            pin_keys=pin_keys,
        )
        # Gift cards as a tender, for a check paid with a card and something else.
        self.tender = GiftCardTender(accounts)
        self.payment_card = use.spending.payment_card
        # Programs
        self.create_program = use.programs.create_program
        self.update_program = use.programs.update_program
        self.list_programs = use.programs.list_programs
        self.programs_page = use.programs.programs_page
        self.get_program = use.programs.get_program
        self.program = use.programs.program
        # Batches of plastic cards
        self.create_batch = use.batches.create_batch
        self.get_batch = use.batches.get_batch
        self.export_batch = use.batches.export_batch
        self.activate_batch = use.batches.activate_batch
        # E-cards
        self.issue_ecard = use.ecards.issue_ecard
        self.ecard_page = use.ecards.ecard_page
        self.ecard_mails = use.ecards.ecard_mails
        self.resend_ecard_mail = use.ecards.resend_ecard_mail
        # Reading cards
        self.get_card = use.queries.get_card
        self.list_cards = use.queries.list_cards
        self.cards_of_customer = use.queries.cards_of_customer
        self.registered_cards = use.queries.registered_cards
        self.find_cards = use.queries.find_cards
        self.card_history = use.queries.card_history
        self.customer_card_history = use.queries.customer_card_history
        # Operations at the register, the e-store and the back office
        self.activate = use.loading.activate
        self.load = use.loading.load
        self.adjust = use.loading.adjust
        self.spend = use.spending.spend
        self.balance_inquiry = use.spending.balance_inquiry
        self.authorise = use.spending.authorise
        self.capture = use.spending.capture
        self.void = use.spending.void
        self.refund = use.spending.refund
        self.transfer_balance = use.transfers.transfer_balance
        # State changes
        self.freeze = use.states.freeze
        self.unfreeze = use.states.unfreeze
        self.close = use.states.close
        self.unlock = use.states.unlock
        # Members
        self.register_card = use.registration.register_card
        self.register_own_card = use.registration.register_own_card
        self.give_profile_bonus = use.registration.give_profile_bonus
        # Resellers
        self.create_reseller = use.resellers.create_reseller
        self.get_reseller = use.resellers.get_reseller
        self.list_resellers = use.resellers.list_resellers
        self.reseller_of = use.resellers.reseller_of
        # The expiry job
        self.expire_cards = use.expiry.expire_cards
        # The number keys' rotation (`cagnotte keys status`)
        self.number_key_usage = use.numbers.usage
        self.pin_key_usage = use.pins.usage
        self.pin_keys = use.pins.keys
