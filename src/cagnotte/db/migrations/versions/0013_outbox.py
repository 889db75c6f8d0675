# ruff: noqa: E501  (Alembic writes one line per column and constraint)
"""outbox: mail written with the work and sent by the jobs; e-card numbers sealed with AES-GCM

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00

- outbox_messages: a message owed (a mail; later a webhook), written in the
  transaction of its work and delivered by the jobs with retries. The body
  lives only while the message is pending (a CHECK says so).
- gift_cards.number_sealed: 64 → 100 characters, for the AES-GCM form
  (`v2:`, nonce, number and tag in base64url); older values (hex) still fit.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox_messages',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('reference_id', sa.Uuid(), nullable=True),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'dropped')", name=op.f('ck_outbox_messages_status')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_messages_attempts')),
    sa.CheckConstraint("status = 'pending' OR body IS NULL", name=op.f('ck_outbox_messages_body_only_while_pending')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_outbox_messages_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_outbox_messages'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_messages_merchant_id_kind_reference_id', ['merchant_id', 'kind', 'reference_id'], unique=False)

    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.alter_column('number_sealed', existing_type=sa.String(length=64), type_=sa.String(length=100), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.alter_column('number_sealed', existing_type=sa.String(length=100), type_=sa.String(length=64), existing_nullable=True)

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_merchant_id_kind_reference_id')
        batch_op.drop_index('ix_outbox_messages_status_next_attempt_at')

    op.drop_table('outbox_messages')
