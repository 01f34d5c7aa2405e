"""A stored chat turn keeps the verified short answer shown above its answer, so a reopened conversation shows
what the live page showed.

Revision ID: 0004_turn_short_answer
Revises: 0003_conversations
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_turn_short_answer"
down_revision = "0003_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_turns") as batch:
        batch.add_column(sa.Column("short_answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_turns") as batch:
        batch.drop_column("short_answer")
