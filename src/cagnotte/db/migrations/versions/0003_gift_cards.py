# ruff: noqa: E501  (Alembic writes one line per column and constraint)
"""gift cards: programs, batches, cards, operations, alerts, resellers

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 10:00:00

Its own branch off the core. Besides the gift card tables it widens the role
check of api_keys to admit 'reseller' (a distribution partner's restricted key).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES_BEFORE = "role IN ('operator', 'owner', 'manager', 'cashier')"
ROLES_AFTER = "role IN ('operator', 'owner', 'manager', 'cashier', 'reseller')"


def _replace_role_check(condition: str) -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch_op.create_check_constraint("role", condition)


def upgrade() -> None:
    op.create_table('gift_card_alert_rules',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=True),
    sa.Column('threshold_count', sa.Integer(), nullable=True),
    sa.Column('threshold_minor', sa.BigInteger(), nullable=True),
    sa.Column('window_minutes', sa.Integer(), nullable=True),
    sa.Column('notify_head_office', sa.Boolean(), nullable=False),
    sa.Column('notify_store_manager', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('wrong_pins', 'large_load', 'large_spend', 'card_velocity', 'terminal_card_checks', 'balance_transfer', 'manual_adjustment')", name=op.f('ck_gift_card_alert_rules_kind')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_alert_rules_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_alert_rules'))
    )
    op.create_table('gift_card_alerts',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=True),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('terminal_id', sa.Uuid(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('mailed_to', sa.JSON(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_alerts_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_alerts'))
    )
    with op.batch_alter_table('gift_card_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_gift_card_alerts_created', ['merchant_id', 'created_at'], unique=False)
    op.create_table('gift_card_batch_secrets',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('batch_sequence', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=19), nullable=False),
    sa.Column('pin', sa.String(length=8), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_batch_secrets_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'batch_id', 'batch_sequence', name=op.f('pk_gift_card_batch_secrets'))
    )
    op.create_table('gift_card_lookups',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('terminal_id', sa.Uuid(), nullable=True),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_lookups_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_lookups'))
    )
    with op.batch_alter_table('gift_card_lookups', schema=None) as batch_op:
        batch_op.create_index('ix_gift_card_lookups_terminal', ['merchant_id', 'terminal_id', 'created_at'], unique=False)
    op.create_table('gift_card_operations',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('requested_minor', sa.BigInteger(), nullable=False),
    sa.Column('balance_after_minor', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=True),
    sa.Column('transfer_id', sa.Uuid(), nullable=True),
    sa.Column('related_id', sa.Uuid(), nullable=True),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('terminal_id', sa.Uuid(), nullable=True),
    sa.Column('reseller_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('invoice_number', sa.String(length=64), nullable=True),
    sa.Column('hold_expires_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('activation', 'load', 'spend', 'authorisation', 'capture', 'void', 'refund', 'transfer_out', 'transfer_in', 'expiry', 'adjustment', 'profile_bonus')", name=op.f('ck_gift_card_operations_kind')),
    sa.CheckConstraint('amount_minor >= 0 AND requested_minor >= 0', name=op.f('ck_gift_card_operations_amounts')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_operations_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_operations')),
    sa.UniqueConstraint('merchant_id', 'invoice_number', name=op.f('uq_gift_card_operations_merchant_id_invoice_number'))
    )
    with op.batch_alter_table('gift_card_operations', schema=None) as batch_op:
        batch_op.create_index('ix_gift_card_operations_card', ['merchant_id', 'card_id', 'created_at'], unique=False)
        batch_op.create_index('ix_gift_card_operations_day', ['merchant_id', 'business_date'], unique=False)
        batch_op.create_index('ix_gift_card_operations_entry', ['merchant_id', 'entry_id'], unique=False)
    op.create_table('gift_card_resellers',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('api_key_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_resellers_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_resellers')),
    sa.UniqueConstraint('api_key_id', name=op.f('uq_gift_card_resellers_api_key_id'))
    )
    op.create_table('gift_card_programs',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('asset_code', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('number_length', sa.Integer(), nullable=False),
    sa.Column('number_prefix', sa.String(length=12), nullable=False),
    sa.Column('number_luhn', sa.Boolean(), nullable=False),
    sa.Column('pin_required', sa.Boolean(), nullable=False),
    sa.Column('pin_length', sa.Integer(), nullable=False),
    sa.Column('reloadable', sa.Boolean(), nullable=False),
    sa.Column('load_min_minor', sa.BigInteger(), nullable=False),
    sa.Column('load_max_minor', sa.BigInteger(), nullable=False),
    sa.Column('balance_max_minor', sa.BigInteger(), nullable=False),
    sa.Column('expiry_months', sa.Integer(), nullable=True),
    sa.Column('pin_attempts_max', sa.Integer(), nullable=False),
    sa.Column('pin_lockout_minutes', sa.Integer(), nullable=False),
    sa.Column('invoice_required', sa.Boolean(), nullable=False),
    sa.Column('loads_per_card_per_day_max', sa.Integer(), nullable=True),
    sa.Column('spends_per_card_per_day_max', sa.Integer(), nullable=True),
    sa.Column('load_amount_per_card_per_day_max_minor', sa.BigInteger(), nullable=True),
    sa.Column('spend_amount_per_card_per_day_max_minor', sa.BigInteger(), nullable=True),
    sa.Column('operation_amount_max_minor', sa.BigInteger(), nullable=True),
    sa.Column('authorisation_minutes', sa.Integer(), nullable=False),
    sa.Column('profile_bonus_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_gift_card_programs_status')),
    sa.CheckConstraint('expiry_months IS NULL OR expiry_months BETWEEN 1 AND 120', name=op.f('ck_gift_card_programs_expiry')),
    sa.CheckConstraint('load_min_minor > 0 AND load_min_minor <= load_max_minor AND load_max_minor <= balance_max_minor', name=op.f('ck_gift_card_programs_load_range')),
    sa.CheckConstraint('number_length BETWEEN 12 AND 19', name=op.f('ck_gift_card_programs_number_length')),
    sa.CheckConstraint('pin_attempts_max >= 1 AND pin_lockout_minutes >= 1', name=op.f('ck_gift_card_programs_lockout')),
    sa.CheckConstraint('pin_length BETWEEN 4 AND 8', name=op.f('ck_gift_card_programs_pin_length')),
    sa.CheckConstraint('profile_bonus_minor >= 0', name=op.f('ck_gift_card_programs_profile_bonus')),
    sa.ForeignKeyConstraint(['asset_code'], ['assets.code'], name=op.f('fk_gift_card_programs_asset_code_assets')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_programs_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_programs'))
    )
    op.create_table('gift_card_batches',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=False),
    sa.Column('card_count', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('exported_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('card_count > 0', name=op.f('ck_gift_card_batches_card_count')),
    sa.ForeignKeyConstraint(['merchant_id', 'program_id'], ['gift_card_programs.merchant_id', 'gift_card_programs.id'], name=op.f('fk_gift_card_batches_merchant_id_program_id_gift_card_programs')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_batches_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_card_batches'))
    )
    op.create_table('gift_card_reseller_programs',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id', 'program_id'], ['gift_card_programs.merchant_id', 'gift_card_programs.id'], name=op.f('fk_gift_card_reseller_programs_merchant_id_program_id_gift_card_programs')),
    sa.ForeignKeyConstraint(['merchant_id', 'reseller_id'], ['gift_card_resellers.merchant_id', 'gift_card_resellers.id'], name=op.f('fk_gift_card_reseller_programs_merchant_id_reseller_id_gift_card_resellers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_card_reseller_programs_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'reseller_id', 'program_id', name=op.f('pk_gift_card_reseller_programs'))
    )
    op.create_table('gift_cards',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('number_last4', sa.String(length=4), nullable=False),
    sa.Column('pin_hash', sa.String(length=200), nullable=True),
    sa.Column('pin_failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('batch_sequence', sa.Integer(), nullable=True),
    sa.Column('membership_id', sa.Uuid(), nullable=True),
    sa.Column('registered_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('profile_bonus_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recipient_email', sa.String(length=320), nullable=True),
    sa.Column('page_token_hash', sa.String(length=64), nullable=True),
    sa.Column('number_sealed', sa.String(length=64), nullable=True),
    sa.Column('activated_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=16), nullable=True),
    sa.Column('replaced_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("closed_reason IS NULL OR closed_reason IN ('closed', 'expired', 'transferred')", name=op.f('ck_gift_cards_closed_reason')),
    sa.CheckConstraint("kind IN ('plastic', 'virtual')", name=op.f('ck_gift_cards_kind')),
    sa.CheckConstraint("state IN ('inactive', 'active', 'frozen', 'closed')", name=op.f('ck_gift_cards_state')),
    sa.CheckConstraint('pin_failures >= 0', name=op.f('ck_gift_cards_pin_failures')),
    sa.ForeignKeyConstraint(['merchant_id', 'program_id'], ['gift_card_programs.merchant_id', 'gift_card_programs.id'], name=op.f('fk_gift_cards_merchant_id_program_id_gift_card_programs')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_gift_cards_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_gift_cards')),
    sa.UniqueConstraint('merchant_id', 'number_hash', name=op.f('uq_gift_cards_merchant_id_number_hash')),
    sa.UniqueConstraint('page_token_hash', name=op.f('uq_gift_cards_page_token_hash'))
    )
    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.create_index('ix_gift_cards_batch', ['merchant_id', 'batch_id', 'batch_sequence'], unique=False)
        batch_op.create_index('ix_gift_cards_expiring', ['state', 'expires_at'], unique=False)
        batch_op.create_index('ix_gift_cards_membership', ['merchant_id', 'membership_id'], unique=False)
    _replace_role_check(ROLES_AFTER)


def downgrade() -> None:
    _replace_role_check(ROLES_BEFORE)
    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_cards_membership')
        batch_op.drop_index('ix_gift_cards_expiring')
        batch_op.drop_index('ix_gift_cards_batch')
    op.drop_table('gift_cards')
    op.drop_table('gift_card_reseller_programs')
    op.drop_table('gift_card_batches')
    op.drop_table('gift_card_programs')
    op.drop_table('gift_card_resellers')
    with op.batch_alter_table('gift_card_operations', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_card_operations_entry')
        batch_op.drop_index('ix_gift_card_operations_day')
        batch_op.drop_index('ix_gift_card_operations_card')
    op.drop_table('gift_card_operations')
    with op.batch_alter_table('gift_card_lookups', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_card_lookups_terminal')
    op.drop_table('gift_card_lookups')
    op.drop_table('gift_card_batch_secrets')
    with op.batch_alter_table('gift_card_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_card_alerts_created')
    op.drop_table('gift_card_alerts')
    op.drop_table('gift_card_alert_rules')
