"""Monitoring: estimated performance before labels arrive (DLE for regressors, CBPE for classifiers).

- ``model_estimators``: one fitted estimator per version (JSON payload, a regressor's error models as skops bytes);
- ``rollup_estimates``: per hour and version, estimated absolute and squared error sums (and the absolute
  one's squares, for the band), and a classifier's expected correct count (and its Bernoulli variance);
- ``rollup_estimate_classes``: a classifier's expected TP/FP/FN per class and hour;
- ``rollup_estimate_bins``: calibrated P(class) on fixed bins of [0, 1] (count, probability sum) per hour.

Rows already rolled up get no estimates: estimates start with the rows rolled up after a version's estimator.

Revision ID: 0015
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY_NAMES = ["model_name", "hour", "model_version", "is_shadow"]


def _key() -> list[sa.Column]:
    return [
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
    ]


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Float(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "model_estimators",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("model_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "model_version", name=op.f("pk_model_estimators")),
    )
    op.create_table(
        "rollup_estimates",
        *_key(),
        sa.Column("count", BIG, nullable=False),
        *_sums("abs_error_sum", "abs_error_sq_sum", "sq_error_sum", "correct_sum", "correct_var_sum"),
        sa.PrimaryKeyConstraint(*KEY_NAMES, name=op.f("pk_rollup_estimates")),
    )
    op.create_table(
        "rollup_estimate_classes",
        *_key(),
        sa.Column("class_name", sa.String(length=256), nullable=False),
        *_sums("tp", "fp", "fn"),
        sa.PrimaryKeyConstraint(*KEY_NAMES, "class_name", name=op.f("pk_rollup_estimate_classes")),
    )
    op.create_table(
        "rollup_estimate_bins",
        *_key(),
        sa.Column("class_name", sa.String(length=256), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.Column("probability_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY_NAMES, "class_name", "bucket", name=op.f("pk_rollup_estimate_bins")),
    )


def downgrade() -> None:
    for table in ("rollup_estimate_bins", "rollup_estimate_classes", "rollup_estimates", "model_estimators"):
        op.drop_table(table)
