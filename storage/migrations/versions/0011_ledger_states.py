"""The ledger writes a move before the registry makes it: entries are pending, done or abandoned.

A move is committed as ``pending`` (who, why, checks) before the alias moves in the registry and
marked ``done`` after. A process that dies in between leaves a pending entry, which the next read
settles: ``done`` when the registry holds what it says (a Loupe move with its actor, not an
"outside" change), ``abandoned`` when the registry never moved. Every earlier entry is ``done``.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alias_changes") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="done"))
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM alias_changes WHERE state <> 'done'")
    with op.batch_alter_table("alias_changes") as batch:
        batch.drop_column("settled_at")
        batch.drop_column("state")
