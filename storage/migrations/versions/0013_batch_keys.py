"""Batch scoring: one summary row per finished batch, with the rejections its cap left out.

``batch_runs`` holds what a batch read, scored, answered from the log (rows an earlier, crashed run of the
same file had logged) and refused, and how many refusals were counted but not kept (beyond
``LOUPE_REJECTIONS_PER_BATCH``). ``(model_name, batch_key)`` is unique: a batch is recorded, and its
rejections logged, once. Each row of a batch is logged with ``predictions.client_id = batch:<key>:<row>``
(unique per model since 0009), so nothing here changes ``predictions``.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("batch_key", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_in", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("answered_from_log", sa.Integer(), nullable=False),
        sa.Column("rejected_rows", sa.Integer(), nullable=False),
        sa.Column("rejections_logged", sa.Integer(), nullable=False),
        sa.Column("rejections_not_logged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_runs")),
    )
    op.create_index("uq_batch_runs_model_key", "batch_runs", ["model_name", "batch_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_batch_runs_model_key", table_name="batch_runs")
    op.drop_table("batch_runs")
