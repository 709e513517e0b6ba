"""Model pins: the model choice a run was started with, stored once by hash, and each run's reference to it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "run_models",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("spec", sa.String(255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_run_models"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("model_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("model_sha256")
    op.drop_table("run_models")
