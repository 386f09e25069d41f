"""The sealer: links committed audit entries into the hash chain, in its own transactions.

Writers only INSERT into audit_log (a trigger queues the id in audit_pending with
the writer's transaction id). The sealer takes an advisory lock, so one process
seals at a time, and chains only entries whose writers have all finished
(txid below the snapshot's xmin), so an entry that commits late is chained
later, never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.repositories import audit_entry
from domain.audit import GENESIS_HASH, AuditEntry, AuditSeal, ChainReport, seal, verify_chain
from domain.ports import AuditChain

SEAL_LOCK_KEY = 0x4151_5541_4C41_4201  # "AQUALAB" + 1, an arbitrary constant advisory-lock key
BATCH = 2000

_ENTRY_COLUMNS = [c for c in tables.audit_log.c]


class SqlAlchemyAuditChain(AuditChain):
    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def seal_pending(self) -> int:
        sealed = 0
        while True:
            count = self._seal_batch()
            sealed += max(count, 0)
            if count < BATCH:  # -1 (lock busy) or a short batch: done
                return sealed

    def _seal_batch(self) -> int:
        log, pending, chain = tables.audit_log, tables.audit_pending, tables.audit_chain
        with self._engine.begin() as conn:
            if not conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SEAL_LOCK_KEY))):
                return -1
            ready = conn.execute(
                sa.select(*_ENTRY_COLUMNS)
                .join(pending, pending.c.entry_id == log.c.id)
                .where(pending.c.txid < sa.text("pg_snapshot_xmin(pg_current_snapshot())"))
                .order_by(log.c.id)
                .limit(BATCH)
            ).all()
            if not ready:
                return 0
            last = conn.execute(
                sa.select(chain.c.seq, chain.c.hash).order_by(chain.c.seq.desc()).limit(1)
            ).first()
            seals = seal(
                [audit_entry(r) for r in ready],
                last_seq=last.seq if last else 0,
                last_hash=last.hash if last else GENESIS_HASH,
            )
            # COPY: an executemany INSERT cost ~10 µs of Python per link, and a sync batch
            # of 1,000 mutations leaves 1,000 entries to seal.
            driver = conn.connection.driver_connection
            assert driver is not None
            statement = "COPY audit_chain (seq, entry_id, prev_hash, hash) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for s in seals:
                    copy.write_row((s.seq, s.entry_id, s.prev_hash, s.hash))
            conn.execute(
                sa.delete(pending).where(pending.c.entry_id == sa.any_(sa.bindparam("ids"))),
                {"ids": [s.entry_id for s in seals]},
            )
            return len(seals)

    def verify(self) -> ChainReport:
        chain, log = tables.audit_chain, tables.audit_log
        with self._engine.connect() as conn:
            pending = conn.scalar(sa.select(sa.func.count()).select_from(tables.audit_pending)) or 0
            result = conn.execution_options(yield_per=BATCH).execute(
                sa.select(
                    chain.c.seq, chain.c.entry_id, chain.c.prev_hash, chain.c.hash, *_ENTRY_COLUMNS
                )
                .select_from(chain.outerjoin(log, log.c.id == chain.c.entry_id))
                .order_by(chain.c.seq)
            )

            def links() -> Iterator[tuple[AuditSeal, AuditEntry | None]]:
                for row in result:
                    link = AuditSeal(
                        seq=row.seq, entry_id=row.entry_id, prev_hash=row.prev_hash, hash=row.hash
                    )
                    yield link, (audit_entry(row) if row.id is not None else None)

            return verify_chain(links(), pending=pending)

    def head_hash(self) -> str:
        with self._engine.connect() as conn:
            head = conn.scalar(
                sa.select(tables.audit_chain.c.hash)
                .order_by(tables.audit_chain.c.seq.desc())
                .limit(1)
            )
            return head or GENESIS_HASH
