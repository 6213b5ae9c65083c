"""Monitoring: remember ids a roll-up refresh read past without finding rows, to look again later.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollup_gaps",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("first_id", BIG, nullable=False),
        sa.Column("last_id", BIG, nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "first_id", name=op.f("pk_rollup_gaps")),
    )


def downgrade() -> None:
    op.drop_table("rollup_gaps")
