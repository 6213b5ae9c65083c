"""Monitoring: multivariate drift and segment roll-ups (placeholder until built).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder kept so the chain is linear while this change is built


def downgrade() -> None:
    pass
