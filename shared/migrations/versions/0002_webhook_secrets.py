"""Per-project webhook signing secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The secret itself, not a hash: HMAC signing needs it (like CAUSALMOL_WEBHOOK_SECRET in the environment).
    op.create_table(
        "webhook_secrets",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
