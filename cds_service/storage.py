"""Records: issued cards, feedback, audit and the JWT replay store (SQLAlchemy 2, Alembic).

SQLite file by default; PostgreSQL (psycopg 3) when DATABASE_URL says so. Several replicas share
one database, so the replay store and feedback are consistent across them.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Float, Integer, String, create_engine, delete, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///her2cds.sqlite3"


class Base(DeclarativeBase):
    pass


class AuditRecord(Base):
    """One hook call: no names, no ids in clear, no result values."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hook_instance: Mapped[str] = mapped_column(String(128), index=True)
    service: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latency_ms: Mapped[float] = mapped_column(Float)
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    knowledge_version: Mapped[str] = mapped_column(String(32))
    cards: Mapped[list] = mapped_column(JSON)
    issuer: Mapped[str | None] = mapped_column(String(512), nullable=True)  # JWT iss; None: unsigned call


class IssuedCard(Base):
    """A card the service returned, so feedback can be linked to it."""

    __tablename__ = "issued_card"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    audit_id: Mapped[int] = mapped_column(Integer, index=True)
    topic: Mapped[str] = mapped_column(String(32))
    warning: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(512), nullable=True)  # only this issuer may give feedback
    rules: Mapped[list | None] = mapped_column(JSON, nullable=True)  # ids of the knowledge rules behind it


class FeedbackRecord(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(64))
    card_uuid: Mapped[str] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list] = mapped_column(JSON)
    override_reason: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    outcome_timestamp: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrialOverlayRecord(Base):
    """One registry refresh of trial status (`her2-cds trials refresh` or `trials import`); the most
    recent refresh is in force, earlier ones are kept as the record of what cards showed when."""

    __tablename__ = "trial_overlay"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    api: Mapped[str] = mapped_column(String(512))
    knowledge_version: Mapped[str] = mapped_column(String(32))
    trials: Mapped[dict] = mapped_column(JSON)
    missing: Mapped[list] = mapped_column(JSON)


class SeenToken(Base):
    """JWT ids seen, kept until the token expires (replay protection)."""

    __tablename__ = "seen_jti"
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    iss: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


_MIGRATION_LOCK = threading.Lock()  # Alembic's context is process-global: one migration at a time


@contextmanager
def _sqlite_file_lock(database_url: str) -> Iterator[None]:
    """Across processes (gunicorn workers), one SQLite migrator at a time: a lock file beside the DB."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    with open(f"{url.database}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config(""))


def head_revisions() -> frozenset[str]:
    """The newest Alembic revision(s) this code expects the database to be at."""
    return frozenset(_script().get_heads())


def known_revisions() -> frozenset[str]:
    """Every revision this release ships (a revision outside it comes from a newer release)."""
    return frozenset(rev.revision for rev in _script().walk_revisions())


def migrate(database_url: str) -> None:
    """Bring the database schema to the newest Alembic revision.

    Workers and replicas may start at once: migrations are serialised in-process, by a lock file
    for SQLite and by an advisory lock for PostgreSQL (migrations/env.py); the second migrator
    then finds the schema at head and does nothing.
    """
    config = _alembic_config(database_url)
    with _MIGRATION_LOCK, _sqlite_file_lock(database_url):
        command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL journal: readers do not block the writer, and commits need no full fsync each."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def pseudonym(key: bytes, patient_id: str) -> str:
    """Keyed HMAC-SHA256 of the patient id: stable per key, not reversible without it."""
    return hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class Store:
    """The service's records, behind a small interface the web layer calls."""

    def __init__(self, database_url: str | None, auto_migrate: bool = True) -> None:
        self.url = database_url or DEFAULT_DATABASE_URL
        if auto_migrate:
            migrate(self.url)
        self.engine = create_engine(self.url, pool_pre_ping=True, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self.heads = head_revisions()

    def check(self) -> tuple[str, str | None]:
        """("ok", None) when the database answers and its schema is at this release's newest revision
        (or at a newer release's: migrations only add, so the previous release keeps serving during a
        rollout); ("unavailable", None); or ("migrations-pending", what is found and what is needed)."""
        try:
            with self.engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
        except Exception:  # noqa: BLE001 - any failure means not ready
            return "unavailable", None
        if current == self.heads or (current and not current & known_revisions()):
            return "ok", None
        return "migrations-pending", (f"schema at {', '.join(sorted(current)) or 'no revision'}, this release needs "
                                      f"{', '.join(sorted(self.heads))} (her2-cds db upgrade)")

    def ready(self) -> bool:
        """True when the database answers and its schema is at (or past) this release's newest revision."""
        return self.check()[0] == "ok"

    def record_call(self, hook_instance: str, service: str, latency_ms: float, patient_key: str,
                    knowledge_version: str, cards: list[dict], issuer: str | None = None) -> None:
        """Write the call's audit row and one issued-card row per card, in one transaction, before the answer
        leaves. Two Core INSERT statements: about 0.35 ms of CPU against 0.87 ms through the ORM's
        unit of work (docs/benchmarks.md)."""
        summary = [{"uuid": c["uuid"], "topic": c["source"]["topic"]["code"],
                    "warning": (c.get("extension") or {}).get("her2cds", {}).get("warning"),
                    "rules": (c.get("extension") or {}).get("her2cds", {}).get("rules", [])} for c in cards]
        with self.engine.begin() as conn:
            audit_id = conn.execute(insert(AuditRecord), {
                "hook_instance": hook_instance, "service": service, "at": datetime.now(UTC), "latency_ms": latency_ms,
                "patient_key": patient_key, "knowledge_version": knowledge_version, "cards": summary, "issuer": issuer,
            }).inserted_primary_key[0]
            if summary:
                conn.execute(insert(IssuedCard), [{"uuid": c["uuid"], "service": service, "audit_id": audit_id,
                                                   "topic": c["topic"], "warning": c["warning"], "issuer": issuer,
                                                   "rules": c["rules"]} for c in summary])

    def issued(self, card_uuid: str) -> IssuedCard | None:
        with self.session() as s:
            return s.get(IssuedCard, card_uuid)

    def add_feedback(self, service: str, items: list[dict]) -> None:
        now = datetime.now(UTC)
        with self.session.begin() as s:
            s.add_all(FeedbackRecord(service=service, card_uuid=i["card"], outcome=i["outcome"],
                                     accepted_suggestions=i.get("acceptedSuggestions") or [],
                                     override_reason=i.get("overrideReason"),
                                     outcome_timestamp=i["outcomeTimestamp"], received_at=now) for i in items)

    def feedback_for(self, card_uuid: str) -> list[FeedbackRecord]:
        with self.session() as s:
            return list(s.scalars(select(FeedbackRecord).where(FeedbackRecord.card_uuid == card_uuid)))

    def audits(self, hook_instance: str | None = None) -> list[AuditRecord]:
        with self.session() as s:
            query = select(AuditRecord)
            if hook_instance:
                query = query.where(AuditRecord.hook_instance == hook_instance)
            return list(s.scalars(query.order_by(AuditRecord.id)))

    def card_outcomes(self) -> Iterator[tuple[str, list[str] | None, FeedbackRecord | None]]:
        """(knowledge version, rule ids, latest feedback or None) for every issued card."""
        with self.session() as s:
            latest: dict[str, FeedbackRecord] = {}
            for record in s.scalars(select(FeedbackRecord).order_by(FeedbackRecord.id)):
                latest[record.card_uuid] = record
            query = (select(IssuedCard.uuid, IssuedCard.rules, AuditRecord.knowledge_version)
                     .join(AuditRecord, AuditRecord.id == IssuedCard.audit_id).execution_options(yield_per=1000))
            for card_uuid, rules, version in s.execute(query):
                yield version, rules, latest.get(card_uuid)

    def remember_jti(self, jti: str, iss: str, expires_at: datetime) -> bool:
        """Store a JWT id; False if it was already seen (a replay). Expired ids are purged.

        The key is issuer + jti, or its SHA-256 when that does not fit the column: never truncated,
        so two long ids that share a prefix are not taken for a replay of each other.
        """
        now = datetime.now(UTC)
        key = f"{iss}\x1f{jti}"
        if len(key) > 255:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
        try:
            with self.session.begin() as s:
                s.execute(delete(SeenToken).where(SeenToken.expires_at < now))
                s.add(SeenToken(jti=key, iss=iss[:512], expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def save_trial_overlay(self, refreshed_at: datetime, api: str, knowledge_version: str, trials: dict[str, dict],
                           missing: list[str]) -> int:
        """Store one registry refresh; it is in force for every replica from now on. Returns its id."""
        with self.session.begin() as s:
            record = TrialOverlayRecord(refreshed_at=refreshed_at.astimezone(UTC), api=api[:512], knowledge_version=knowledge_version,
                                        trials=trials, missing=missing)
            s.add(record)
            s.flush()
            return record.id

    def latest_trial_overlay(self) -> TrialOverlayRecord | None:
        """The most recent registry refresh (by its refresh time), or None when there has been none."""
        newest = select(TrialOverlayRecord).order_by(TrialOverlayRecord.refreshed_at.desc(), TrialOverlayRecord.id.desc())
        with self.session() as s:
            return s.scalars(newest.limit(1)).first()

    def dump(self) -> dict[str, Any]:
        """Every stored row as plain data (tests and PHI checks)."""
        with self.session() as s:
            return {model.__tablename__: [{c.name: getattr(row, c.name) for c in model.__table__.columns}
                                          for row in s.scalars(select(model))]
                    for model in (AuditRecord, IssuedCard, FeedbackRecord, SeenToken, TrialOverlayRecord)}
