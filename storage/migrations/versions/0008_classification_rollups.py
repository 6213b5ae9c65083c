"""Monitoring of classifiers: label counts, confusion counts, score histograms, log loss, shadow agreement.

- ``rollup_labels``: per hour, version and shadow flag, how often each class was predicted (``kind`` =
  ``predicted``, ``actual`` empty) and, once true labels arrive, predicted × actual (``kind`` = ``confusion``);
- ``rollup_scores``: per class, labelled rows' probability of that class on 1,000 fixed bins of [0, 1], split
  by whether the true label is that class (ROC AUC, reliability curve), and every prediction's score (class
  ``""``); per hour and per UTC day (``whole_day``), so long windows read days;
- ``rollup_hours`` gains the labelled rows' log-loss sum and count, and shadow rows' label agreement;
- ``rollup_references`` gains the version's classification holdout metrics (JSON), for the metric alerts.

A log that already holds classifier rows has its roll-ups emptied, so the next refresh reads them again.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOUR_COLUMNS = ("log_loss_count", "log_loss_sum", "agreed", "compared")


def _key() -> list[sa.Column]:
    return [
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_labels",
        *_key(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("predicted", sa.String(length=256), nullable=False),
        sa.Column("actual", sa.String(length=256), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name",
            "hour",
            "model_version",
            "is_shadow",
            "kind",
            "predicted",
            "actual",
            name=op.f("pk_rollup_labels"),
        ),
    )
    op.create_table(
        "rollup_scores",
        *_key(),
        sa.Column("whole_day", sa.Boolean(), nullable=False),
        sa.Column("class_name", sa.String(length=256), nullable=False),
        sa.Column("is_true", sa.Boolean(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name",
            "hour",
            "model_version",
            "is_shadow",
            "whole_day",
            "class_name",
            "is_true",
            "bucket",
            name=op.f("pk_rollup_scores"),
        ),
    )
    with op.batch_alter_table("rollup_hours") as batch:
        batch.add_column(sa.Column("log_loss_count", BIG, nullable=False, server_default="0"))
        batch.add_column(sa.Column("log_loss_sum", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("agreed", BIG, nullable=False, server_default="0"))
        batch.add_column(sa.Column("compared", BIG, nullable=False, server_default="0"))
    with op.batch_alter_table("rollup_references") as batch:
        batch.add_column(sa.Column("holdout_json", sa.Text(), nullable=True))
    # Classifier rows logged before this step were rolled up without their labels: start the roll-ups
    # again (the next refresh reads the whole log once). A log without them keeps its roll-ups.
    labelled = "EXISTS (SELECT 1 FROM predictions WHERE label IS NOT NULL)"
    for table in ("rollup_hours", "rollup_buckets", "rollup_features", "rollup_rejections", "rollup_gaps"):
        op.execute(f"DELETE FROM {table} WHERE {labelled}")
    op.execute(f"DELETE FROM rollup_state WHERE {labelled}")


def downgrade() -> None:
    with op.batch_alter_table("rollup_references") as batch:
        batch.drop_column("holdout_json")
    with op.batch_alter_table("rollup_hours") as batch:
        for name in HOUR_COLUMNS:
            batch.drop_column(name)
    op.drop_table("rollup_scores")
    op.drop_table("rollup_labels")
