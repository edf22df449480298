"""console: console accounts, API tokens, failed sign-ins; indexes for the console's ticket filters

Revision ID: console_0001
Revises: tickets_0001 (its ticket indexes need the tickets table)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "console_0001"
down_revision = "tickets_0001"   # not "0001": the ticket indexes below need the tickets table
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("is_operator", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_console_accounts_member_id_members"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_accounts")),
        sa.UniqueConstraint("member_id", name=op.f("uq_console_accounts_member_id")),
        sa.UniqueConstraint("username", name=op.f("uq_console_accounts_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["console_accounts.id"],
                                name=op.f("fk_api_tokens_account_id_console_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_account_id"), ["account_id"], unique=False)
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"], unique=False)
    op.create_index("ix_tickets_grid_created", "tickets", ["grid_id", "created_at"], unique=False)
    op.create_index("ix_tickets_category_created", "tickets", ["category", "created_at"], unique=False)
    op.create_index("ix_tickets_urgency_status", "tickets", ["urgency", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tickets_urgency_status", table_name="tickets")
    op.drop_index("ix_tickets_category_created", table_name="tickets")
    op.drop_index("ix_tickets_grid_created", table_name="tickets")
    op.drop_index("ix_login_failures_username_at", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_account_id"))
    op.drop_table("api_tokens")
    op.drop_table("console_accounts")
