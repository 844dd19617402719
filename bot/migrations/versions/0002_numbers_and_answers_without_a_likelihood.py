"""Per-server assessment numbers, and answers that carry no likelihood.

``number`` (1, 2, 3... per guild) is what users see, so one server's numbers say nothing about
another's activity; rows already there are numbered per guild in id order. ``likelihood`` and
``verdict`` become nullable: an engine without proven skill shows no number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:  # SQLite: a copy of the table, votes kept
        batch.alter_column("likelihood", existing_type=sa.Integer, nullable=True)
        batch.alter_column("verdict", existing_type=sa.String(20), nullable=True)
        batch.add_column(sa.Column("number", sa.Integer, nullable=True))
    op.execute(
        "UPDATE assessments SET number = (SELECT COUNT(*) FROM assessments a2 WHERE a2.id <= assessments.id"
        " AND (a2.guild_id = assessments.guild_id OR (a2.guild_id IS NULL AND assessments.guild_id IS NULL)))"
    )
    op.create_index("assessments_guild_number", "assessments", ["guild_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("assessments_guild_number", table_name="assessments")
    op.execute("UPDATE assessments SET likelihood = 0 WHERE likelihood IS NULL")
    op.execute("UPDATE assessments SET verdict = '' WHERE verdict IS NULL")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("number")
        batch.alter_column("verdict", existing_type=sa.String(20), nullable=False)
        batch.alter_column("likelihood", existing_type=sa.Integer, nullable=False)
