"""The first schema: assessments and votes (what ``metadata.create_all`` made before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

VARIABLES = ("trigger", "local_support", "military_opposition", "feasibility", "costs")


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("guild_id", sa.BigInteger, nullable=True),
        sa.Column("channel_id", sa.BigInteger, nullable=True),
        sa.Column("user_id", sa.BigInteger, nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("subject_key", sa.String(200), nullable=False),
        sa.Column("as_of", sa.Date, nullable=True),
        sa.Column("likelihood", sa.Integer, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("confidence", sa.String(10), nullable=False),
        *(sa.Column(f"score_{key}", sa.SmallInteger, nullable=True) for key in VARIABLES),
        sa.Column("engine", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("assessments_guild_subject", "assessments", ["guild_id", "subject_key", "created_at"])
    op.create_index("assessments_guild_channel", "assessments", ["guild_id", "channel_id"])
    op.create_table(
        "votes",
        sa.Column(
            "assessment_id", sa.Integer, sa.ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_index("assessments_guild_channel", table_name="assessments")
    op.drop_index("assessments_guild_subject", table_name="assessments")
    op.drop_table("assessments")
