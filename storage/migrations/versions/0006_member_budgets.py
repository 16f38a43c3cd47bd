"""member budgets: per-member counters, `@user` / `each-user` and soft limits

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_MEMBER = sqlmodel.sql.sqltypes.AutoString(length=64)


def _rebuild_sqlite_counters(*, member: bool) -> None:
    # SQLite cannot change a primary key in place: copy into a table with the new key.
    key = ["budget_id", "period_start", *(["member"] if member else [])]
    extra = [sa.Column("member", _MEMBER, nullable=False, server_default="")] if member else []
    op.create_table(
        "_budget_counters_new",
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        *extra,
        sa.Column("spent_pusd", sa.BigInteger(), nullable=False),
        sa.Column("reserved_pusd", sa.BigInteger(), nullable=False),
        sa.Column("alert80_sent", sa.Boolean(), nullable=False),
        sa.Column("alert100_sent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["budget_id"], ["budgets.id"]),
        sa.PrimaryKeyConstraint(*key),
    )
    columns = "budget_id, period_start, spent_pusd, reserved_pusd, alert80_sent, alert100_sent"
    op.execute(
        f"INSERT INTO _budget_counters_new ({columns}) SELECT {columns} FROM budget_counters"
    )
    op.drop_table("budget_counters")
    op.rename_table("_budget_counters_new", "budget_counters")


def upgrade() -> None:
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", _MEMBER, nullable=True))
        batch_op.add_column(
            sa.Column("soft", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member", _MEMBER, nullable=False, server_default=""))
    # The counter key gains the member ("" for counters shared by the whole scope).
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "budget_counters", sa.Column("member", _MEMBER, nullable=False, server_default="")
        )
        op.drop_constraint("budget_counters_pkey", "budget_counters", type_="primary")
        op.create_primary_key(
            "budget_counters_pkey", "budget_counters", ["budget_id", "period_start", "member"]
        )
    else:
        _rebuild_sqlite_counters(member=True)


def downgrade() -> None:
    # Per-member counters and budgets cannot be expressed without the member: drop them.
    op.execute("DELETE FROM budget_counters WHERE member <> ''")
    op.execute("DELETE FROM budget_leases WHERE member <> ''")
    op.execute(
        "DELETE FROM budget_counters WHERE budget_id IN "
        "(SELECT id FROM budgets WHERE target = 'each-user' OR target LIKE 'user:%')"
    )
    op.execute("DELETE FROM budgets WHERE target = 'each-user' OR target LIKE 'user:%'")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("budget_counters_pkey", "budget_counters", type_="primary")
        op.drop_column("budget_counters", "member")
        op.create_primary_key(
            "budget_counters_pkey", "budget_counters", ["budget_id", "period_start"]
        )
    else:
        _rebuild_sqlite_counters(member=False)
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.drop_column("member")
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_column("soft")
        batch_op.drop_column("member_id")
