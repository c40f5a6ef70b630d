"""Trial-status overlay in the database: one row per registry refresh, the newest is in force.

Revision ID: 0002_deploy
Revises: 0002_web_issuer (chained after the web layer's revision, which landed first)
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_deploy"
down_revision = "0002_web_issuer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_overlay",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("api", sa.String(512), nullable=False),
        sa.Column("knowledge_version", sa.String(32), nullable=False),
        sa.Column("trials", sa.JSON, nullable=False),
        sa.Column("missing", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trial_overlay")
