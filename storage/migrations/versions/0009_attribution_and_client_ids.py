"""Rejections attributed to the version that refused them; predictions made elsewhere keep their client's id.

- ``rejections.model_version``: the version whose input rules refused the row (NULL for rows logged before
  this revision, which cannot be attributed any more).
- ``rollup_rejections`` gains ``model_version`` in its key (0 = not attributed). The table is rebuilt empty
  and the rejections watermark reset, so the next refresh recounts every logged rejection per version.
- ``predictions.client_id``: the id a client gave a prediction it made elsewhere (ingest), unique per model,
  so a retried upload cannot store it twice.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("rejections") as batch:
        batch.add_column(sa.Column("model_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=128), nullable=True))
    op.create_index("uq_predictions_model_client_id", "predictions", ["model_name", "client_id"], unique=True)
    op.drop_table("rollup_rejections")
    op.create_table(
        "rollup_rejections",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "model_version", "hour", "field", "rule", name=op.f("pk_rollup_rejections")
        ),
    )
    op.execute("DELETE FROM rollup_state WHERE name = 'rejections'")
    op.execute("DELETE FROM rollup_gaps WHERE source = 'rejections'")


def downgrade() -> None:
    op.drop_table("rollup_rejections")
    op.create_table(
        "rollup_rejections",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("count", BIG, nullable=False),
        sa.PrimaryKeyConstraint("model_name", "hour", "field", "rule", name=op.f("pk_rollup_rejections")),
    )
    op.execute("DELETE FROM rollup_state WHERE name = 'rejections'")
    op.execute("DELETE FROM rollup_gaps WHERE source = 'rejections'")
    op.drop_index("uq_predictions_model_client_id", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("client_id")
    with op.batch_alter_table("rejections") as batch:
        batch.drop_column("model_version")
