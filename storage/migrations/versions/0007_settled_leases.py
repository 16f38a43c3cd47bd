"""settled leases: a lease records its call's real cost before the counters take it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the call has not settled yet (every lease held today). Nothing to convert.
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spent_pusd", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # A lease whose call settled but whose counters have not taken the cost yet: charge
    # it now, as its sweep would, so that going back loses no spend.
    op.execute(
        "UPDATE budget_counters SET"
        " reserved_pusd = reserved_pusd - (SELECT coalesce(sum(l.amount_pusd), 0)"
        "  FROM budget_leases l WHERE l.spent_pusd IS NOT NULL"
        "  AND l.budget_id = budget_counters.budget_id"
        "  AND l.period_start = budget_counters.period_start"
        "  AND l.member = budget_counters.member),"
        " spent_pusd = spent_pusd + (SELECT coalesce(sum(l.spent_pusd), 0)"
        "  FROM budget_leases l WHERE l.spent_pusd IS NOT NULL"
        "  AND l.budget_id = budget_counters.budget_id"
        "  AND l.period_start = budget_counters.period_start"
        "  AND l.member = budget_counters.member)"
    )
    op.execute("DELETE FROM budget_leases WHERE spent_pusd IS NOT NULL")
    with op.batch_alter_table("budget_leases", schema=None) as batch_op:
        batch_op.drop_column("spent_pusd")
