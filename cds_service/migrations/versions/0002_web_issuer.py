"""The EHR (JWT issuer) each call and card belongs to, so feedback is taken only from that EHR.

Revision ID: 0002_web_issuer
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_web_issuer"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("audit", "issued_card"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("issuer", sa.String(512), nullable=True))


def downgrade() -> None:
    for table in ("issued_card", "audit"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("issuer")
