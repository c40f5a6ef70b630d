"""Initial schema: audit, issued cards, feedback, JWT replay store.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_instance", sa.String(128), nullable=False, index=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False, index=True),
        sa.Column("knowledge_version", sa.String(32), nullable=False),
        sa.Column("cards", sa.JSON, nullable=False),
    )
    op.create_table(
        "issued_card",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("audit_id", sa.Integer, nullable=False, index=True),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("warning", sa.String(64), nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(36), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_reason", sa.JSON, nullable=True),
        sa.Column("outcome_timestamp", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "seen_jti",
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    for table in ("seen_jti", "feedback", "issued_card", "audit"):
        op.drop_table(table)
