"""archive: the chat archive's cursor, the embedded archive, residents' consent

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("newest_msgtime", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pulled_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_cursors")),
        sa.UniqueConstraint("source", name=op.f("uq_archive_cursors_source")),
    )
    op.create_table(
        "local_archive_messages",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("msgid", sa.String(length=64), nullable=False),
        sa.Column("publickey_ver", sa.Integer(), nullable=False),
        sa.Column("encrypt_random_key", sa.Text(), nullable=False),
        sa.Column("encrypt_chat_msg", sa.Text(), nullable=False),
        sa.Column("media", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_local_archive_messages")),
        sa.UniqueConstraint("msgid", name=op.f("uq_local_archive_messages_msgid")),
    )
    op.create_table(
        "archive_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("changed_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_consents")),
        sa.UniqueConstraint("external_userid", name=op.f("uq_archive_consents_external_userid")),
    )


def downgrade() -> None:
    op.drop_table("archive_consents")
    op.drop_table("local_archive_messages")
    op.drop_table("archive_cursors")
