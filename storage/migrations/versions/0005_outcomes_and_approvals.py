"""one outcome word per usage row; approval requests (Ask an admin)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# storage.outcomes.outcome_of, frozen here as SQL: a migration must not change with the code.
_OUTCOME = """
CASE
  WHEN status = 'refused' AND error_kind = 'budget' THEN 'refused_budget'
  WHEN status = 'refused' AND error_kind = 'leak' THEN 'refused_leak'
  WHEN status = 'refused' THEN 'refused_key'
  WHEN error_kind = 'timeout' THEN 'timeout'
  WHEN error_kind IN ('max_tokens', 'interrupted') THEN 'cut'
  WHEN status = 'ok' THEN 'ok'
  WHEN status = 'estimated' AND (error_kind IS NULL OR error_kind IN
    ('implausible_usage', 'no_usage', 'unpriceable', 'unrecordable')) THEN 'ok'
  ELSE 'error'
END
"""


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "outcome",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="ok",
            )
        )
    op.execute(f"UPDATE usage_events SET outcome = {_OUTCOME}")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.alter_column("outcome", server_default=None)
    op.create_table(
        "approval_requests",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agent_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("budget_label", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("worst_pusd", sa.BigInteger(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("allowance_pusd", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_requests_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_workspace_id"))
    op.drop_table("approval_requests")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("outcome")
