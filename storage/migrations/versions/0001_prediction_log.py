"""Prediction log: predictions, their typed features, rejections and feedback.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=True),
        sa.Column("prediction", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("is_ood", sa.Boolean(), nullable=False),
        sa.Column("ood_fields", sa.Text(), nullable=True),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.Column("shadow_of", BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    op.create_index(op.f("ix_predictions_created_at"), "predictions", ["created_at"])
    op.create_index("ix_predictions_model_time", "predictions", ["model_name", "created_at"])
    op.create_index(op.f("ix_predictions_request_id"), "predictions", ["request_id"])
    op.create_index(op.f("ix_predictions_shadow_of"), "predictions", ["shadow_of"])

    op.create_table(
        "prediction_features",
        sa.Column("prediction_id", BIG_ID, nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("num_value", sa.Float(), nullable=True),
        sa.Column("cat_value", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name=op.f("fk_prediction_features_prediction_id_predictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", "feature", name=op.f("pk_prediction_features")),
    )

    op.create_table(
        "feedback",
        sa.Column("prediction_id", BIG_ID, nullable=False),
        sa.Column("actual", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name=op.f("fk_feedback_prediction_id_predictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_feedback")),
    )

    op.create_table(
        "rejections",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejections")),
    )
    op.create_index(op.f("ix_rejections_created_at"), "rejections", ["created_at"])


def downgrade() -> None:
    op.drop_table("rejections")
    op.drop_table("feedback")
    op.drop_table("prediction_features")
    op.drop_index("ix_predictions_shadow_of", table_name="predictions")
    op.drop_index("ix_predictions_request_id", table_name="predictions")
    op.drop_index("ix_predictions_model_time", table_name="predictions")
    op.drop_index("ix_predictions_created_at", table_name="predictions")
    op.drop_table("predictions")
