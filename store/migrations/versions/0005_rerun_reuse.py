"""Reruns and reuse: a run's parent and fork point, what it carries over (`reuse`), which steps were reused, and
the input hash of each stored output (the step cache).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_run_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("rerun_from", sa.String(255), nullable=True))
        batch.add_column(sa.Column("reuse", JSON, nullable=True))
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("reused_from", sa.String(600), nullable=True))
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("input_sha256", sa.String(64), nullable=True))
    op.create_index("ix_artifacts_input_sha256", "artifacts", ["input_sha256"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_input_sha256", table_name="artifacts")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("input_sha256")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("reused_from")
    op.drop_index("ix_runs_parent_run_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("reuse")
        batch.drop_column("rerun_from")
        batch.drop_column("parent_run_id")
