"""Monitoring roll-ups: hourly counts, histograms and feature bins of the prediction log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _hour_key() -> list[sa.Column]:
    return [
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_hours",
        *_hour_key(),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.Column("predictions", BIG, nullable=False),
        sa.Column("ood", BIG, nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("prediction_sum", sa.Float(), nullable=False),
        sa.Column("prediction_sq_sum", sa.Float(), nullable=False),
        sa.Column("feedback", BIG, nullable=False),
        sa.Column("error_sum", sa.Float(), nullable=False),
        sa.Column("abs_error_sum", sa.Float(), nullable=False),
        sa.Column("sq_error_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "hour", "model_version", "is_shadow", name=op.f("pk_rollup_hours")),
    )
    op.create_table(
        "rollup_buckets",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "metric", "hour", "model_version", "is_shadow", "bucket", name=op.f("pk_rollup_buckets")
        ),
    )
    op.create_table(
        "rollup_features",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.String(length=256), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "model_version", "hour", "is_shadow", "feature", "bucket", name=op.f("pk_rollup_features")
        ),
    )
    op.create_table(
        "rollup_rejections",
        *_hour_key(),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint("model_name", "hour", "field", "rule", name=op.f("pk_rollup_rejections")),
    )
    op.create_table(
        "rollup_references",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "model_version", name=op.f("pk_rollup_references")),
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", BIG, nullable=False),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    # Refreshes find new feedback by arrival time; without an index that is a scan of all feedback.
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_received_at", table_name="feedback")
    for table in ("rollup_state", "rollup_references", "rollup_rejections", "rollup_features", "rollup_buckets"):
        op.drop_table(table)
    op.drop_table("rollup_hours")
