"""`aqualab`: serve, migrate, create-admin, verify-audit, seed-demo, db start|stop|url."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from entrypoints.config import ConfigError, Settings, load_settings
from entrypoints.sealer import SealerProcess


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name, env_name in (
        ("storage", "AQUALAB_STORAGE"),
        ("host", "host"),
        ("port", "port"),
        ("threads", "threads"),
        ("workers", "workers"),
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[env_name] = value
    return load_settings(**overrides)


def _embedded(settings: Settings):  # type: ignore[no-untyped-def]
    from adapters.postgres_server import EmbeddedPostgres

    return EmbeddedPostgres(settings.var_dir / "pg")


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL under var/ (started if needed)."""
    if settings.database_url:
        return settings.database_url
    print(
        f"DATABASE_URL is not set: using the embedded PostgreSQL in {settings.var_dir / 'pg'}",
        file=sys.stderr,
    )
    return str(_embedded(settings).start())


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    from migrations import alembic_config

    command.upgrade(alembic_config(url), revision)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    migrate(database_url(settings), args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from entrypoints.container import build_container

    settings = _settings(args)
    url = database_url(settings)
    migrate(url)
    container = build_container(settings, url)
    try:
        view = container.create_admin()(
            email=args.email,
            password=args.password,
            lab_name=args.lab,
            meta_reason="aqualab create-admin",
        )
        container.verify_audit()(None)  # seal the new entries right away
    finally:
        container.shutdown_resources()
    print(f"admin {view.email} ready (id {view.id}, lab {view.lab_id or '-'})")
    return 0


def cmd_verify_audit(args: argparse.Namespace) -> int:
    from entrypoints.container import build_container

    settings = _settings(args)
    container = build_container(settings, database_url(settings))
    try:
        report = container.verify_audit()(None)
    finally:
        container.shutdown_resources()
    print(
        json.dumps(
            {"ok": report.ok, "checked": report.checked, "first_bad_id": report.first_bad_id}
        )
    )
    return 0 if report.ok else 1


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Bulk demo data: labs, users, samples, results, tasks, and an audit entry for each."""
    import contextlib
    import secrets
    import time

    from tqdm import tqdm

    from adapters.sqlalchemy.demo_data import (
        ConcurrentSealer,
        DemoOptions,
        analyze,
        ensure_demo_labs,
        lab_names,
        new_request_id,
        pending_audit_entries,
        seed_demo,
    )
    from adapters.sqlalchemy.demo_people import PeopleReport, seed_tasks, seed_users
    from domain.validation import password_problems
    from entrypoints.container import build_container

    settings = _settings(args)
    options = DemoOptions(
        samples=args.samples,
        results_per_sample=args.results_per_sample,
        labs=args.labs,
        lab_name=args.lab,
        seed=args.seed,
        batch_size=args.batch_size,
        margin=settings.compliance_margin,
        users=args.users,
        tasks=args.tasks,
    )
    problems = options.problems()
    user_password = args.user_password or (
        f"Demo-{secrets.token_urlsafe(12)}-7q" if options.users else None
    )
    if args.user_password is not None and (weak := password_problems(args.user_password)):
        problems += [f"--user-password: {p}" for p in weak]
    if problems:
        print(f"aqualab: {'; '.join(problems)}", file=sys.stderr)
        return 2
    url = database_url(settings)
    migrate(url)
    container = build_container(settings, url)
    try:
        started = time.perf_counter()
        names = lab_names(options)
        lab_ids = ensure_demo_labs(container.uow, container.clock(), container.ids(), names)
        engine = container.engine()
        request_id = new_request_id()
        now = container.clock().now()
        sealer = None if args.no_seal else ConcurrentSealer(container.audit_chain())
        with (
            contextlib.nullcontext() if sealer is None else sealer,
            tqdm(total=options.samples, unit="sample", unit_scale=True, desc="seed-demo") as bar,
        ):
            people = PeopleReport([])
            if options.users:
                assert user_password is not None
                # One argon2 hash for every new user: hashing is slow on purpose.
                password_hash = container.hasher().hash(user_password)
                people = seed_users(
                    engine,
                    options.users,
                    lab_ids,
                    names,
                    password_hash,
                    now=now,
                    request_id=request_id,
                )
            report = seed_demo(engine, options, lab_ids, progress=bar.update, request_id=request_id)
            tasks_written = seed_tasks(
                engine, options.tasks, people.users, seed=options.seed, now=now,
                request_id=request_id,
            )  # fmt: skip
            if sealer is not None:
                bar.set_description("seed-demo: sealing the audit chain")
                sealer.finish()
        analyze_s = analyze(engine)
        pending = pending_audit_entries(engine)
        total_s = time.perf_counter() - started
    finally:
        container.shutdown_resources()
    print(
        json.dumps(
            {
                "labs": dict(zip(names, [str(i) for i in lab_ids], strict=True)),
                "samples": report.samples,
                "results": report.results,
                "audit_entries": report.audit_entries + people.created + tasks_written,
                "users": {
                    "created": people.created,
                    "existing": people.existing,
                    "by_role": {
                        role: sum(1 for u in people.users if u.role.value == role)
                        for role in ("admin", "technician", "viewer")
                    },
                    "emails": [u.email for u in people.users],
                },
                "tasks": tasks_written,
                "sample_compliance": dict(sorted(report.sample_statuses.items())),
                "result_compliance": dict(sorted(report.result_statuses.items())),
                "request_id": report.request_id,
                # Printed only when generated here; a password given on the command line
                # is the caller's and is never echoed.
                **(
                    {"user_password": user_password}
                    if options.users and args.user_password is None
                    else {}
                ),
                "audit_sealed_here": sealer.sealed if sealer else 0,
                "audit_pending": pending,
                "seconds": {
                    "insert": round(report.seconds, 1),
                    "sealing_after_insert": round(sealer.finish_seconds, 1) if sealer else 0,
                    "vacuum_analyze": round(analyze_s, 1),
                    "total": round(total_s, 1),
                },
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pg = _embedded(settings)
    if args.action == "start":
        pg.start()
        print(f"embedded PostgreSQL running on port {pg.port}")
    elif args.action == "stop":
        pg.stop()
        print("embedded PostgreSQL stopped")
    else:
        print(pg.url if pg.is_running() else "")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from entrypoints.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level)
    if settings.workers and settings.storage == "memory":
        print(
            "aqualab: --workers needs the sql storage (memory storage lives in one process)",
            file=sys.stderr,
        )
        return 2
    url = None
    if settings.storage == "sql":
        url = database_url(settings)
        migrate(url)
    # SQL storage: the audit sealer runs beside the server, in a process of its own (the
    # in-memory storage seals at each commit).
    sealer = SealerProcess(url) if url else None
    if sealer is not None:
        sealer.start()
    try:
        if settings.workers:
            return _serve_gunicorn(args, settings, url)
        return _serve_waitress(args, settings, url)
    finally:
        if sealer is not None:
            sealer.stop()


def cmd_seal(args: argparse.Namespace) -> int:
    """Chain the audit entries committed so far (`--follow`: keep doing it)."""
    from entrypoints.container import build_container
    from entrypoints.logs import configure_logging
    from entrypoints.sealer import follow

    settings = _settings(args)
    configure_logging(settings.log_level)
    if settings.storage != "sql":
        print("aqualab: seal needs the sql storage", file=sys.stderr)
        return 2
    url = database_url(settings)
    container = build_container(settings, url)
    try:
        chain = container.audit_chain()
        if args.follow:
            follow(chain, args.interval, parent=args.parent_pid)
            return 0
        print(json.dumps({"sealed": chain.seal_pending()}))
        return 0
    finally:
        container.shutdown_resources()


def _create_admin_at_start(args: argparse.Namespace, container) -> None:  # type: ignore[no-untyped-def]
    if args.admin_email and args.admin_password:
        container.create_admin()(
            email=args.admin_email,
            password=args.admin_password,
            lab_name=args.admin_lab,
            meta_reason="serve --admin-email",
        )


def _write_pid_file(settings: Settings) -> Callable[[], None]:
    pid_file = settings.var_dir / "aqualab.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid = str(os.getpid())
    pid_file.write_text(pid)

    def remove() -> None:
        # gunicorn's workers leave through this frame too (they are forks of this process).
        if str(os.getpid()) == pid and pid_file.exists() and pid_file.read_text().strip() == pid:
            pid_file.unlink(missing_ok=True)

    return remove


def _serve_gunicorn(args: argparse.Namespace, settings: Settings, url: str | None) -> int:
    """gunicorn: this process is the master; each worker builds its own container."""
    from entrypoints.container import build_container
    from entrypoints.http.gunicorn_app import AquaLabGunicorn, worker_threads

    if args.admin_email and args.admin_password:
        container = build_container(settings, url)
        try:
            _create_admin_at_start(args, container)
        finally:
            container.shutdown_resources()  # no engine or connection survives into a fork
    remove_pid_file = _write_pid_file(settings)
    print(
        f"AquaLab serving on http://{settings.host}:{settings.port} "
        f"(docs: /docs, storage: {settings.storage}, gunicorn: {settings.workers} "
        f"{settings.worker_class} workers x {worker_threads(settings)} threads)",
        file=sys.stderr,
        flush=True,
    )
    try:
        AquaLabGunicorn(settings, url).run()
    finally:
        remove_pid_file()
    return 0


def _serve_waitress(args: argparse.Namespace, settings: Settings, url: str | None) -> int:
    import waitress

    from entrypoints.container import build_container
    from entrypoints.http.app import create_app, freeze_startup_heap

    # waitress's I/O thread must win the GIL often; at the default 5 ms, 8 busy workers
    # starve it and throughput collapses at ~100 connections (docs/performance.md).
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    container = build_container(settings, url)
    _create_admin_at_start(args, container)
    app = create_app(container)
    freeze_startup_heap()
    remove_pid_file = _write_pid_file(settings)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(
        f"AquaLab serving on http://{settings.host}:{settings.port} "
        f"(docs: /docs, storage: {settings.storage})",
        file=sys.stderr,
        flush=True,
    )
    try:
        waitress.serve(
            app,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            ident="aqualab",
            # Waitress answers bodies over its own ceiling with a bare text/plain 413 before
            # the app runs; keep that ceiling above MAX_BODY_BYTES so the app's middleware
            # answers 413 in the error envelope (with X-Request-ID, headers, log line).
            max_request_body_size=max(2 * settings.max_body_bytes, settings.max_body_bytes + 2**20),
            channel_timeout=30,
            connection_limit=1000,
            asyncore_use_poll=True,
            expose_tracebacks=False,
            # TRUSTED_PROXIES is the app's to apply (RequestContextMiddleware); waitress 3
            # would otherwise drop X-Forwarded-For before the app could trust it.
            clear_untrusted_proxy_headers=False,
            _quiet=True,
        )
    except KeyboardInterrupt:
        pass
    finally:
        container.shutdown_resources()
        remove_pid_file()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aqualab", description="AquaLab water-quality lab backend"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="serve the HTTP API (waitress; gunicorn worker processes with --workers)"
    )
    serve.add_argument("--storage", choices=["sql", "memory"])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--threads", type=int, help="waitress threads, or threads per gthread worker"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="serve with gunicorn and this many worker processes (WORKERS; default: one "
        "waitress process)",
    )
    serve.add_argument(
        "--admin-email", help="create or update this admin at start (handy with --storage memory)"
    )
    serve.add_argument("--admin-password")
    serve.add_argument("--admin-lab")
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("--revision", default="head")
    mig.set_defaults(func=cmd_migrate)

    admin = sub.add_parser("create-admin", help="create (or update) an administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--lab", help="lab name (created if missing)")
    admin.set_defaults(func=cmd_create_admin)

    verify = sub.add_parser("verify-audit", help="seal and verify the audit hash chain")
    verify.set_defaults(func=cmd_verify_audit)

    seal = sub.add_parser(
        "seal",
        help="chain committed audit entries (`serve` runs `seal --follow` beside itself)",
    )
    seal.add_argument("--follow", action="store_true", help="keep sealing until stopped")
    seal.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    seal.add_argument(
        "--parent-pid", type=int, help="with --follow: stop when this process is gone"
    )
    seal.set_defaults(func=cmd_seal)

    seed = sub.add_parser(
        "seed-demo",
        help="bulk-load realistic demo samples and results (audited, judged by the engine)",
    )
    seed.add_argument("--samples", type=int, required=True, help="how many samples")
    seed.add_argument("--results-per-sample", type=int, default=5, help="results each (5)")
    seed.add_argument("--labs", type=int, default=1, help="spread over this many labs (1)")
    seed.add_argument("--lab", help="lab name (found by name or created); more get ' 2', ' 3'…")
    seed.add_argument("--seed", type=int, default=42, help="random seed for the content (42)")
    seed.add_argument("--batch-size", type=int, default=2000, help="samples per transaction")
    seed.add_argument(
        "--users",
        type=int,
        default=0,
        help="users of the labs: one admin, ~1 in 6 viewers, the rest technicians (0); "
        "emails like technician01@<lab>.lab.example, existing ones reused",
    )
    seed.add_argument(
        "--tasks", type=int, default=0, help="tasks spread over those users (0; needs --users)"
    )
    seed.add_argument(
        "--user-password",
        help="the new users' shared password (default: generated and printed in the summary)",
    )
    seed.add_argument(
        "--no-seal",
        action="store_true",
        help="do not chain the new audit entries here; the server's background sealer "
        "(or `aqualab verify-audit`) chains them later",
    )
    seed.set_defaults(func=cmd_seed_demo)

    db = sub.add_parser("db", help="manage the embedded PostgreSQL under var/")
    db.add_argument("action", choices=["start", "stop", "url"])
    db.set_defaults(func=cmd_db)

    from entrypoints.sync_client import demo as sync_demo

    sync_demo.add_parser(sub)

    from entrypoints.cli import ops

    ops.add_parsers(sub)  # backup, restore, purge

    from entrypoints.cli import report

    report.add_parser(sub)  # compliance reports (issue 5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"aqualab: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from domain.errors import DomainError, ValidationFailed

        if isinstance(exc, ValidationFailed):
            problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.field_errors.items())
            print(f"aqualab: {exc.message}: {problems}", file=sys.stderr)
            return 2
        if isinstance(exc, DomainError):
            print(f"aqualab: {exc.message}", file=sys.stderr)
            return 1
        from adapters.postgres_server import EmbeddedPostgresError

        if isinstance(exc, EmbeddedPostgresError):
            print(f"aqualab: embedded PostgreSQL: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
