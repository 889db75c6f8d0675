"""Gift cards: the one entry point of the edges (routes, pages, jobs, the bench).

`GiftCardService` composes the use cases of this package and hands out their
methods; it holds no rules and no SQL of its own. Where each use case lives:

- `programs_admin`  programs: create, change, read (cached)
- `batches`         printed batches: create, export once, activate
- `issuing`         new cards and their accounts; e-cards, sold and mailed
- `cards`           activation, reload, a manager's correction
- `spending`        spend, balance inquiry, authorise, capture, void, refund
- `transfers`       a card's whole balance to a new card
- `state`           freeze, unfreeze, close, lift a PIN lockout
- `registration`    a card registered to a member; the profile bonus
- `resellers`       distribution partners and what they may sell
- `expiry`          the job that closes expired cards
- `queries`         card views and histories

and beneath them: `finding` (a card by number and PIN, one answer for every
miss), `operating` (the unit of work of an operation on one card), `tender` and
`plans` (what an operation would do, as a `tenders.Plan`), `repository` and
`setup_repository` (the SQL), `rows` (typed rows), `program` (a program's one
list of settings), `rules` (pure rules), `accounts` (the ledger accounts).

Errors: those listed by each use case's module.
"""

from __future__ import annotations

from cagnotte.clock import Clock
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.mail import Mailer
from cagnotte.merchants.service import MerchantService
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.batches import Batches
from cagnotte.programs.gift_cards.cards import CardLoading
from cagnotte.programs.gift_cards.expiry import CardExpiry
from cagnotte.programs.gift_cards.finding import CardFinder, NumberKey
from cagnotte.programs.gift_cards.issuing import CardIssuer, ECards
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.registration import Registration
from cagnotte.programs.gift_cards.reports import GiftCardReports
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.spending import Spending
from cagnotte.programs.gift_cards.state import CardStates
from cagnotte.programs.gift_cards.tender import GiftCardTender
from cagnotte.programs.gift_cards.transfers import BalanceTransfers


class GiftCardService:
    def __init__(
        self, database: Database, clock: Clock, ledger: Ledger, customers: CustomerService,
        merchants: MerchantService, mailer: Mailer, *, mail_from: str, public_url: str,
        number_key: str | None = None, units: UnitsOfWork | None = None,
    ) -> None:
        units = units or UnitsOfWork(database, clock)
        self.alerts = GiftCardAlerts(database, clock, mailer, mail_from)
        self.reports = GiftCardReports(database)
        accounts = CardAccounts(ledger)
        numbers = NumberKey(database, clock, number_key)
        resellers = Resellers(database, clock, merchants)
        programs = ProgramCatalogue(database, clock, merchants, resellers)
        finder = CardFinder(database, clock, self.alerts, programs, resellers, numbers)
        queries = CardQueries(database, accounts, programs, customers, numbers)
        operations = CardOperations(units, ledger, accounts, programs, resellers, self.alerts)
        loading = CardLoading(finder, operations, resellers, queries)
        issuer = CardIssuer(clock, accounts, numbers)
        batches = Batches(database, clock, programs, issuer, loading)
        ecards = ECards(
            database, merchants, mailer, mail_from=mail_from, public_url=public_url,
            issuer=issuer, loading=loading, programs=programs, resellers=resellers,
            operations=operations, queries=queries,
        )
        spending = Spending(finder, operations, accounts, resellers, queries)
        transfers = BalanceTransfers(
            units, ledger, accounts, programs, finder, resellers, operations, self.alerts
        )
        states = CardStates(units, ledger, queries)
        registration = Registration(units, customers, finder, operations, queries)
        expiry = CardExpiry(
            database, clock, units, ledger, accounts, programs, operations, self.alerts
        )
        # Gift cards as a tender, for a check paid with a card and something else.
        self.tender = GiftCardTender(accounts)
        self.payment_card = spending.payment_card

        # Programs
        self.create_program = programs.create_program
        self.update_program = programs.update_program
        self.list_programs = programs.list_programs
        self.get_program = programs.get_program
        self.program = programs.program
        # Batches of plastic cards
        self.create_batch = batches.create_batch
        self.get_batch = batches.get_batch
        self.export_batch = batches.export_batch
        self.activate_batch = batches.activate_batch
        # E-cards
        self.issue_ecard = ecards.issue_ecard
        self.ecard_page = ecards.ecard_page
        # Reading cards
        self.get_card = queries.get_card
        self.list_cards = queries.list_cards
        self.cards_of_customer = queries.cards_of_customer
        self.find_cards = queries.find_cards
        self.card_history = queries.card_history
        self.customer_card_history = queries.customer_card_history
        # Operations at the register, the e-store and the back office
        self.activate = loading.activate
        self.load = loading.load
        self.adjust = loading.adjust
        self.spend = spending.spend
        self.balance_inquiry = spending.balance_inquiry
        self.authorise = spending.authorise
        self.capture = spending.capture
        self.void = spending.void
        self.refund = spending.refund
        self.transfer_balance = transfers.transfer_balance
        # State changes
        self.freeze = states.freeze
        self.unfreeze = states.unfreeze
        self.close = states.close
        self.unlock = states.unlock
        # Members
        self.register_card = registration.register_card
        self.register_own_card = registration.register_own_card
        self.give_profile_bonus = registration.give_profile_bonus
        # Resellers
        self.create_reseller = resellers.create_reseller
        self.get_reseller = resellers.get_reseller
        self.list_resellers = resellers.list_resellers
        self.reseller_of = resellers.reseller_of
        # The expiry job
        self.expire_cards = expiry.expire_cards
