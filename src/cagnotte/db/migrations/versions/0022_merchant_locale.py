"""merchants: a country, a default locale and a time zone

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-01 13:50:00

A merchant's phones were read as Czech, its days counted in UTC and its mails
written one fixed way. Each merchant now says where it is (i18n.py). Merchants
made before keep what the currency of their accounts makes obvious — CZK: CZ,
cs_CZ, Europe/Prague; EUR: FR, fr_FR, Europe/Paris (the French seed's); CAD:
CA, en_CA, America/Toronto (Montréal's zone too) — when their accounts hold
exactly one of these currencies, and CZ / cs_CZ / Europe/Prague otherwise, the
columns' defaults. The operator corrects a guess with PATCH /v1/merchants/{id}.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BY_CURRENCY = {
    "CZK": ("CZ", "cs_CZ", "Europe/Prague"),
    "EUR": ("FR", "fr_FR", "Europe/Paris"),
    "CAD": ("CA", "en_CA", "America/Toronto"),
}


def upgrade() -> None:
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(
            sa.Column("country", sa.String(length=2), server_default=sa.text("'CZ'"), nullable=False)
        )
        batch.add_column(
            sa.Column(
                "locale", sa.String(length=35), server_default=sa.text("'cs_CZ'"), nullable=False
            )
        )
        batch.add_column(
            sa.Column(
                "time_zone",
                sa.String(length=64),
                server_default=sa.text("'Europe/Prague'"),
                nullable=False,
            )
        )
    connection = op.get_bind()
    accounts = sa.table("accounts", sa.column("merchant_id"), sa.column("asset_code"))
    merchants = sa.table(
        "merchants",
        sa.column("id"),
        sa.column("country"),
        sa.column("locale"),
        sa.column("time_zone"),
    )
    currencies: dict[object, set[str]] = {}
    for merchant_id, asset_code in connection.execute(
        sa.select(accounts.c.merchant_id, accounts.c.asset_code)
        .where(accounts.c.asset_code.in_(sorted(BY_CURRENCY)))
        .distinct()
    ):
        currencies.setdefault(merchant_id, set()).add(asset_code)
    for merchant_id, codes in currencies.items():
        if len(codes) != 1:
            continue
        country, locale, time_zone = BY_CURRENCY[codes.pop()]
        connection.execute(
            sa.update(merchants)
            .where(merchants.c.id == merchant_id)
            .values(country=country, locale=locale, time_zone=time_zone)
        )


def downgrade() -> None:
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("locale")
        batch.drop_column("country")
