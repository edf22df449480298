"""tickets.kind, about_member_id, concealed: a complaint about a member (监督评议, issue 18 point 8)

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="request", nullable=False))
        batch.add_column(sa.Column("about_member_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("concealed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_foreign_key(op.f("fk_tickets_about_member_id_members"), "members", ["about_member_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(op.f("fk_tickets_about_member_id_members"), type_="foreignkey")
        batch.drop_column("concealed")
        batch.drop_column("about_member_id")
        batch.drop_column("kind")
