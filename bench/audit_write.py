"""CPU and wall time of one call's synchronous audit write (Store.record_call: the audit row and one
issued-card row per card, one transaction), against the former ORM unit-of-work write, on SQLite.

    python -m bench.audit_write [--calls 500] [--cards 4]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cds_service.storage import AuditRecord, IssuedCard, Store


def cards(n: int) -> list[dict]:
    return [{"uuid": str(uuid.uuid4()), "source": {"topic": {"code": f"topic{i}"}},
             "extension": {"her2cds": {"warning": None, "rules": ["rule.a", "rule.b"]}}} for i in range(n)]


def former_orm_write(store: Store, hook_instance: str, service: str, latency_ms: float, patient_key: str,
                     knowledge_version: str, cards: list[dict], issuer: str | None = None) -> None:
    """The write as it was before (session, flush for the audit id, add_all): the baseline."""
    summary = [{"uuid": c["uuid"], "topic": c["source"]["topic"]["code"], "warning": None,
                "rules": c["extension"]["her2cds"]["rules"]} for c in cards]
    with store.session.begin() as s:
        audit = AuditRecord(hook_instance=hook_instance, service=service, at=datetime.now(UTC), latency_ms=latency_ms,
                            patient_key=patient_key, knowledge_version=knowledge_version, cards=summary, issuer=issuer)
        s.add(audit)
        s.flush()
        s.add_all(IssuedCard(uuid=c["uuid"], service=service, audit_id=audit.id, topic=c["topic"],
                             warning=c["warning"], issuer=issuer, rules=c["rules"]) for c in summary)


def measure(write: Callable, calls: int, per_call: int) -> tuple[float, float]:
    store = Store(f"sqlite:///{Path(tempfile.mkdtemp(prefix='her2cds-audit-')) / 'db.sqlite3'}")
    for _ in range(30):  # warm-up: compiled statements, connection pool
        write(store, str(uuid.uuid4()), "her2-order-sign", 12.3, "k" * 32, "v1", cards(per_call), "issuer")
    batches = [cards(per_call) for _ in range(calls)]
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches:
        write(store, str(uuid.uuid4()), "her2-order-sign", 12.3, "k" * 32, "v1", batch, "issuer")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(store.audits()) == calls + 30
    return cpu * 1000 / calls, wall * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--cards", type=int, default=4, help="cards per call")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} calls of {args.cards} cards, SQLite")
    for name, write in [("former ORM write", former_orm_write), ("Store.record_call", Store.record_call)] * 2:
        cpu, wall = measure(write, args.calls, args.cards)
        print(f"{name}: CPU {cpu:.3f} ms per call, wall {wall:.3f} ms per call")


if __name__ == "__main__":
    main()
