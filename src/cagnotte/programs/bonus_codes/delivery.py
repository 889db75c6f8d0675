"""Delivery: the plain codes reach the merchant by mail and by one download per format.

The platform keeps only the codes' keyed hashes for good; their plain text
lives in `bonus_code_exports` until both files are fetched (or for
PLAIN_CODES_KEPT, see settlement). Afterwards the merchant sees the codes'
last characters only.

The mail is written to the outbox in the unit of work that funds the campaign
and draws its codes; it holds no codes itself. The job composes it when it
sends it, from the plain codes still kept, so the codes are never copied into
the outbox. If they are gone by then (downloaded, or the campaign closed), the
mail fails for good. The merchant sees what became of it (`codes_mails`), and
a mail that finally fails leaves an entry in the audit trail.

Errors: forbidden, campaign_not_found, codes_already_downloaded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import Connection, select

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.pages import FIRST_PAGE, Page, PageRequest
from cagnotte.db.tables import assets
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.i18n import merchant_locale
from cagnotte.mail import compose
from cagnotte.outbox import ClaimedMessage, MessageKind, MessageState, Outbox, PermanentFailure
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.context import BonusContext
from cagnotte.programs.bonus_codes.rows import Campaign, MaskedCode
from cagnotte.security.principals import Principal
from cagnotte.spreadsheets import csv_file, xlsx_file

FILE_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_COLUMNS = ["code", "value_minor", "currency", "valid_from", "valid_to", "campaign"]


def codes_csv(campaign: Campaign, plain: Sequence[str]) -> bytes:
    return csv_file(
        _COLUMNS,
        (
            [
                code,
                campaign.bonus_value_minor,
                campaign.asset_code,
                campaign.valid_from.isoformat(),
                campaign.valid_to.isoformat(),
                campaign.name,
            ]
            for code in plain
        ),
    )


def codes_xlsx(campaign: Campaign, plain: Sequence[str]) -> bytes:
    # A spreadsheet's dates have no time zone; the moments are UTC.
    valid_from = campaign.valid_from.replace(tzinfo=None)
    valid_to = campaign.valid_to.replace(tzinfo=None)
    return xlsx_file(
        "Bonus codes",
        _COLUMNS,
        (
            [
                code,
                campaign.bonus_value_minor,
                campaign.asset_code,
                valid_from,
                valid_to,
                campaign.name,
            ]
            for code in plain
        ),
    )


def codes_file(campaign: Campaign, plain: Sequence[str], file_format: str) -> bytes:
    assert file_format in FILE_TYPES
    return codes_csv(campaign, plain) if file_format == "csv" else codes_xlsx(campaign, plain)


CODES_MAIL = "bonus_code_files"


class Delivery:
    def __init__(self, context: BonusContext, outbox: Outbox) -> None:
        self.context = context
        self.outbox = outbox
        outbox.register(
            MessageKind(CODES_MAIL, compose=self._compose_codes_mail, on_failure=_audit_failure)
        )

    def mail_codes(self, unit: UnitOfWork, campaign: Campaign) -> None:
        """Owe a funded campaign's codes to its notify address, in the unit that drew them."""
        if not campaign.notify_email:
            return
        self.outbox.enqueue(
            unit.connection,
            merchant_id=campaign.merchant_id,
            kind=CODES_MAIL,
            recipient=campaign.notify_email,
            now=unit.now,
            title=f"Bonus codes: {campaign.name}",
            reference_id=campaign.id,
        )

    def codes_mails(
        self, caller: Principal, campaign_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[MessageState]:
        """What became of the mails of a campaign's codes, newest first."""
        caller.require("manager")
        with self.context.database.read() as connection:
            if repository.campaign(connection, caller.merchant_id, campaign_id) is None:
                raise errors.CampaignNotFound()
        return self.outbox.messages_about(caller.merchant_id, CODES_MAIL, campaign_id, page)

    def _compose_codes_mail(
        self, connection: Connection, message: ClaimedMessage
    ) -> EmailMessage | None:
        """The job's side: the mail with both files, from the plain codes still kept.

        Codes wiped because the merchant fetched both files need no mail (it is
        dropped); codes wiped otherwise (the campaign closed, kept too long) make
        it fail for good.
        """
        assert message.reference_id is not None
        campaign = repository.campaign(connection, message.merchant_id, message.reference_id)
        assert campaign is not None, "the campaign of a codes mail is gone"
        plain = repository.plain_codes(connection, campaign)
        if plain is None:
            if repository.both_files_downloaded(connection, campaign):
                return None
            raise PermanentFailure("the plain codes were wiped before the mail could be sent")
        # Written for the merchant: its locale's money, its zone's moments.
        written = merchant_locale(connection, campaign.merchant_id).format
        scale = connection.execute(
            select(assets.c.scale).where(assets.c.code == campaign.asset_code)
        ).scalar_one()
        body = (
            f"Your bonus campaign “{campaign.name}” is funded and its {len(plain)} codes "
            f"are attached (CSV and XLSX).\n\nEach code is worth "
            f"{written.money(campaign.bonus_value_minor, campaign.asset_code, scale)} and is "
            f"valid from {written.moment(campaign.valid_from)} to "
            f"{written.moment(campaign.valid_to)}.\n"
            "Keep this message safe: the platform keeps only the codes' fingerprints.\n"
        )
        return compose(
            self.context.settings.mail_from,
            message.recipient,
            f"Bonus codes: {campaign.name}",
            body,
            attachments=[
                (
                    f"bonus-codes.{file_format}",
                    media_type,
                    codes_file(campaign, plain, file_format),
                )
                for file_format, media_type in FILE_TYPES.items()
            ],
        )

    def download_codes(
        self, caller: Principal, campaign_id: uuid.UUID, file_format: str
    ) -> tuple[bytes, str]:
        """The plain codes as CSV or XLSX, each format once; afterwards only the ends show."""
        caller.require("manager")
        assert file_format in FILE_TYPES
        campaign, plain = self.context.units.run(
            caller.merchant_id,
            "bonus_codes_download",
            lambda unit: self._take_codes(unit, campaign_id, file_format),
        )
        # The file is written after the commit: the unit holds no lock meanwhile.
        return codes_file(campaign, plain, file_format), FILE_TYPES[file_format]

    @staticmethod
    def _take_codes(
        unit: UnitOfWork, campaign_id: uuid.UUID, file_format: str
    ) -> tuple[Campaign, list[str]]:
        campaign = repository.campaign(unit.connection, unit.merchant_id, campaign_id)
        if campaign is None:
            raise errors.CampaignNotFound()
        plain = repository.take_plain_codes(unit.connection, campaign, file_format, unit.now)
        if plain is None:
            raise errors.CodesAlreadyDownloaded()
        repository.wipe_downloaded_plain_codes(unit.connection, campaign, unit.now)
        return campaign, plain

    def list_codes(
        self, caller: Principal, campaign_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[MaskedCode]:
        """The codes as the merchant sees them after the download: last characters, state."""
        caller.require("manager")
        with self.context.database.read() as connection:
            campaign = repository.campaign(connection, caller.merchant_id, campaign_id)
            if campaign is None:
                raise errors.CampaignNotFound()
            return repository.masked_codes(connection, campaign, page)


def _audit_failure(connection: Connection, message: MessageState, now: datetime) -> None:
    """The merchant's audit trail says that its codes' mail never arrived."""
    record_audit(
        connection,
        message.merchant_id,
        "platform",
        "bonus_campaign.codes_mail_failed",
        message.reference_id,
        {
            "message_id": str(message.id),
            "recipient": message.recipient,
            "attempts": message.attempts,
            "last_error": message.last_error,
        },
        now,
    )
