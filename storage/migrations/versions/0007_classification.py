"""Classification: a predicted label and class probabilities per prediction, a true label per feedback.

``predictions.prediction`` becomes nullable: a classifier that gives no probabilities has a label and no
score. ``feedback.actual`` becomes nullable: a classifier's truth is ``actual_label``.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.alter_column("prediction", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("label", sa.String(256), nullable=True))
        batch.add_column(sa.Column("probabilities", sa.Text(), nullable=True))
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("actual", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("actual_label", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("actual_label")
        batch.alter_column("actual", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("probabilities")
        batch.drop_column("label")
        batch.alter_column("prediction", existing_type=sa.Float(), nullable=False)
