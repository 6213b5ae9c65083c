"""Alias ledger: every move of a registry alias.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("preflight", sa.Text(), nullable=True),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alias_changes")),
    )
    op.create_index(op.f("ix_alias_changes_alias"), "alias_changes", ["alias"])
    op.create_index(op.f("ix_alias_changes_changed_at"), "alias_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_alias_changes_changed_at", table_name="alias_changes")
    op.drop_index("ix_alias_changes_alias", table_name="alias_changes")
    op.drop_table("alias_changes")
