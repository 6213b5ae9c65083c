"""Registry: last known holders and registry events (placeholder until built).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder kept so the chain is linear while this change is built


def downgrade() -> None:
    pass
