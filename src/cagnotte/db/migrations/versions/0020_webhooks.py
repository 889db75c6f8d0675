# ruff: noqa: E501  (Alembic writes one line per column and constraint)
"""webhooks: merchants' endpoints, the events told to them, the log of delivery attempts

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 12:10:00

- webhook_endpoints: a merchant's URL, the event types it wants and its signing secret.
- webhook_events: what happened, written in the transaction of the work; its id
  is the `webhook-id` of every delivery of it.
- webhook_attempts: one row per HTTP attempt of a delivery (an outbox message of
  kind "webhook"), with the status code or the error.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=True),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cagnotte.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_webhook_endpoints_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_events',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_webhook_events_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_webhook_events'))
    )
    op.create_table('webhook_attempts',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('endpoint_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('attempted_at', cagnotte.db.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('attempt >= 1', name=op.f('ck_webhook_attempts_attempt')),
    sa.ForeignKeyConstraint(['merchant_id', 'event_id'], ['webhook_events.merchant_id', 'webhook_events.id'], name=op.f('fk_webhook_attempts_merchant_id_event_id_webhook_events')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_webhook_attempts_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_webhook_attempts'))
    )
    op.create_index('ix_webhook_attempts_merchant_id_message_id', 'webhook_attempts', ['merchant_id', 'message_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_attempts_merchant_id_message_id', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_events')
    op.drop_table('webhook_endpoints')
