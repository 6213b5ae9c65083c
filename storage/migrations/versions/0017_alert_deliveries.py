"""Alerts: incidents and deliveries (placeholder until built).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder kept so the chain is linear while this change is built


def downgrade() -> None:
    pass
