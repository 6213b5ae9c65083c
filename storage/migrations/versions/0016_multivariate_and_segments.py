"""Monitoring: multivariate drift and segment roll-ups.

- ``rollup_multivariate``: per (model, hour, version, shadow) the summed PCA reconstruction error of the
  rows (and its square), a window's mean read from the sums;
- ``rollup_segments``: per (model, hour, version, shadow, feature, value) of a categorical feature with few
  values: predictions, true values and their error sums (a classifier's: its correct predictions),
  multivariate error sums, estimated sums;
- ``rollup_segment_features``: per segment and UTC day, the feature bins drift is measured on.

The PCA itself is plain JSON in the version's reference profile (``rollup_references.profile_json``).
The tables start empty: rows logged before this step are in them after ``rebuild_rollups``.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOUR_KEY = ("model_name", "hour", "model_version", "is_shadow")


def _key() -> list[sa.Column]:
    return [
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_multivariate",
        *_key(),
        sa.Column("rows", BIG, nullable=False),
        sa.Column("error_sum", sa.Float(), nullable=False),
        sa.Column("error_sq_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*HOUR_KEY, name=op.f("pk_rollup_multivariate")),
    )
    op.create_table(
        "rollup_segments",
        *_key(),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("predictions", BIG, nullable=False),
        sa.Column("feedback", BIG, nullable=False),
        sa.Column("error_sum", sa.Float(), nullable=False),
        sa.Column("abs_error_sum", sa.Float(), nullable=False),
        sa.Column("sq_error_sum", sa.Float(), nullable=False),
        sa.Column("correct", BIG, nullable=False, server_default="0"),
        sa.Column("mv_rows", BIG, nullable=False),
        sa.Column("mv_error_sum", sa.Float(), nullable=False),
        sa.Column("estimated_rows", BIG, nullable=False),
        sa.Column("estimated_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*HOUR_KEY, "feature", "value", name=op.f("pk_rollup_segments")),
    )
    op.create_table(
        "rollup_segment_features",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("split_feature", sa.String(length=128), nullable=False),
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.Column("split_value", sa.String(length=256), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.String(length=256), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name",
            "model_version",
            "split_feature",
            "day",
            "is_shadow",
            "split_value",
            "feature",
            "bucket",
            name=op.f("pk_rollup_segment_features"),
        ),
    )


def downgrade() -> None:
    op.drop_table("rollup_segment_features")
    op.drop_table("rollup_segments")
    op.drop_table("rollup_multivariate")
