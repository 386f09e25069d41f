"""Per-request overhead budget (issue 6): `.venv/bin/python bench/overhead.py [--database-url URL]`.

Times, in-process and on one core, the work every authenticated request does around
its own query: verifying the bearer token (first sight, then remembered), the
session-and-user check (CPU of this process only, with a real PostgreSQL when
`--database-url` is given: the round trip itself is not CPU), validating the query
string, and writing a 20-sample list as JSON. Prints microseconds per call (best of 5
rounds) and the total against the 0.3 ms budget. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.clock import SystemClock
from adapters.tokens import JwtTokenService, RememberingVerifier
from application.views import SampleView
from domain.model import User
from domain.roles import Role
from entrypoints.http import fast_json
from entrypoints.http.schemas import ListMeta, SampleList, SampleListQuery

BUDGET_US = 300.0


def per_call_us(fn: Callable[[], object], calls: int, rounds: int = 5) -> float:
    for _ in range(min(calls, 200)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def sample_view(n: int) -> SampleView:
    now = datetime.now(UTC)
    return SampleView(
        id=uuid.uuid4(), lab_id=uuid.uuid4(), type="drinking", location=f"Kénitra well {n}",
        latitude=34.26, longitude=-6.58, collection_date=now - timedelta(days=n),
        collector_name="Amina Idrissi", status="completed", compliance_status="pass",
        notes=None, version=1, created_at=now, created_by=None, updated_at=now, updated_by=None,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="time the session-and-user check too")
    parser.add_argument("--calls", type=int, default=5_000)
    args = parser.parse_args()

    user = User(
        id=uuid.uuid4(), email="bench@lab.example", name="Bench", password_hash="x",
        role=Role.TECHNICIAN, lab_id=uuid.uuid4(), created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )  # fmt: skip
    service = JwtTokenService("overhead-bench-secret-" + "x" * 32, clock=SystemClock())
    tokens = [service.issue_access(user, uuid.uuid4(), datetime.now(UTC)).token for _ in range(3)]
    remembering = RememberingVerifier(service)
    remembering.verify_access(tokens[0])
    query = {"compliance_status": "fail", "sort": "-collection_date", "page": "2", "limit": "20"}
    page = {
        "data": [sample_view(n) for n in range(20)],
        "meta": ListMeta(total=412, page=2, limit=20, total_pages=21, has_more=True),
    }
    fast_json.verify_against_pydantic(False)

    rows: list[tuple[str, float]] = [
        ("JWT verify, first sight (PyJWT HS256)", per_call_us(
            lambda: service.verify_access(tokens[1]), args.calls)),
        ("JWT verify, remembered (every later request)", per_call_us(
            lambda: remembering.verify_access(tokens[0]), args.calls)),
    ]  # fmt: skip
    if args.database_url:
        rows.append(("session + user check (CPU; one PostgreSQL round trip)", session_check_us(
            args.database_url, args.calls // 5)))  # fmt: skip
        rows.append(("session + user check, kept by the auth cache (hit)",
                     cached_session_check_us(args.database_url, args.calls)))  # fmt: skip
    rows += [
        ("query validation (SampleListQuery, 4 params)", per_call_us(
            lambda: SampleListQuery.model_validate(query), args.calls)),
        ("JSON: 20-sample list (fast_json)", per_call_us(
            lambda: fast_json.dump(SampleList, page), args.calls)),
        ("JSON: the same through pydantic", per_call_us(
            lambda: SampleList.model_validate(page, from_attributes=True).model_dump_json(),
            args.calls)),
    ]  # fmt: skip
    uncounted = ("first sight", "pydantic", "auth cache")
    counted = [us for label, us in rows if not any(word in label for word in uncounted)]
    print(f"{'step':58} {'us/call':>8}")
    for label, us in rows:
        print(f"{label:58} {us:8.1f}")
    total = sum(counted)
    verdict = "met" if total <= BUDGET_US else "MISSED"
    label = "total per request (remembered token, fast JSON)"
    print(f"{label:58} {total:8.1f}  budget {BUDGET_US:.0f}: {verdict}")
    checks = dict(rows)
    if args.database_url:
        kept = total - checks[rows[2][0]] + checks[rows[3][0]]
        label = "total per request, session kept by the auth cache"
        verdict = "met" if kept <= BUDGET_US else "MISSED"
        print(f"{label:58} {kept:8.1f}  budget {BUDGET_US:.0f}: {verdict}")


def _stored_session(url: str) -> tuple[Any, Any, Callable[[], Any]]:
    """An engine on `url`, one stored session's id, and a read of it with its user (what
    `Authenticate` does on a miss)."""
    import sqlalchemy as sa

    from adapters.sqlalchemy.engine import make_engine
    from adapters.sqlalchemy.orm import start_mappers
    from adapters.sqlalchemy.unit_of_work import (
        SqlAlchemyUnitOfWork,
        make_read_only_session_factory,
        make_session_factory,
    )

    start_mappers()
    engine = make_engine(url, pool_size=2)
    with engine.connect() as conn:
        session_id = conn.execute(sa.text("SELECT id FROM auth_sessions LIMIT 1")).scalar()
    if session_id is None:
        raise SystemExit("no session in that database: log in once first")
    writable, read_only = make_session_factory(engine), make_read_only_session_factory(engine)

    def read() -> Any:
        with SqlAlchemyUnitOfWork(writable, read_only, read_only=True) as uow:
            return uow.sessions.get_with_user(session_id)

    return engine, session_id, read


def session_check_us(url: str, calls: int) -> float:
    engine, _, read = _stored_session(url)
    try:
        return per_call_us(read, calls)
    finally:
        engine.dispose()


def cached_session_check_us(url: str, calls: int) -> float:
    """What `Authenticate` does on a hit: `get` (lock, a zero-timeout select on the
    listener's socket, a dict lookup, the age check), with the listener connected."""
    from adapters.auth_cache import ListeningAuthenticationCache, libpq_conninfo

    engine, session_id, read = _stored_session(url)
    cache = ListeningAuthenticationCache(libpq_conninfo(url))
    cache.start()
    try:
        deadline = time.monotonic() + 10
        while not cache.is_live:
            if time.monotonic() > deadline:
                raise SystemExit("the auth cache's listener did not connect")
            time.sleep(0.01)
        ticket = cache.ticket()
        found = read()
        assert found is not None
        cache.put(session_id, found, ticket)

        def hit() -> None:
            if cache.get(session_id) is None:
                raise SystemExit("the auth cache missed: something changed that session")

        return per_call_us(hit, calls)
    finally:
        cache.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
