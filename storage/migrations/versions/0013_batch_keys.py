"""Batch scoring: idempotency keys and capped rejections (placeholder until built).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder kept so the chain is linear while this change is built


def downgrade() -> None:
    pass
