"""Provider layer: which model answered each step (and its fallbacks), the cost of each call, event lookups by type.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("provider", sa.String(64), nullable=True))
        batch.add_column(sa.Column("model", sa.String(255), nullable=True))
        batch.add_column(sa.Column("fallbacks", JSON, nullable=True))
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("cost_usd", sa.Numeric(20, 10), nullable=True))
    # GET /usage?since= and the anomaly baseline read usage by time; /health looks up recent anomalies by type
    op.create_index("ix_usage_created_at", "usage", ["created_at"])
    op.create_index("ix_events_type_created_at", "events", ["type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_events_type_created_at", table_name="events")
    op.drop_index("ix_usage_created_at", table_name="usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("cost_usd")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("fallbacks")
        batch.drop_column("model")
        batch.drop_column("provider")
