"""Rule ids of each issued card, for the feedback report per rule.

Revision ID: 0002_rules
Revises: 0002_deploy
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_rules"
down_revision = "0002_deploy"  # chained after the revisions already on main when main was merged
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: cards issued before this revision have no recorded rule ids.
    op.add_column("issued_card", sa.Column("rules", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_card") as batch:  # SQLite rebuilds the table
        batch.drop_column("rules")
