"""Monitoring: keep each version's holdout MAE with its reference profile (for the MAE alert).

A separate step because 0003 was briefly released without the column; it is added only when missing.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("rollup_references")}
    if "holdout_mae" not in columns:
        with op.batch_alter_table("rollup_references") as batch:
            batch.add_column(sa.Column("holdout_mae", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollup_references") as batch:
        batch.drop_column("holdout_mae")
