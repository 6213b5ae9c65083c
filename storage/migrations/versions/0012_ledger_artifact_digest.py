"""The ledger records the digest of the model files a move pointed an alias at.

A version whose files change after it was promoted is not served until it is promoted again; the
ledger keeps what was promoted, so an audit can tell which files answered.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alias_changes") as batch:
        batch.add_column(sa.Column("artifact_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alias_changes") as batch:
        batch.drop_column("artifact_digest")
