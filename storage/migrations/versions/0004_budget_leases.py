"""budget reservation leases

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_leases",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("amount_pusd", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", "budget_id"),
    )
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budget_leases_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_leases_expires_at"))
    op.drop_table("budget_leases")
