"""The composition root: dependency-injector wires adapters to ports, chosen by configuration.

`build_container(settings)` initialises every resource and singleton eagerly, so no
provider is ever first-touched by two serving threads at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from dependency_injector import containers, providers

from adapters.auth_cache import (
    ChangeAcknowledgements,
    ListeningAuthenticationCache,
    NoAuthenticationCache,
    libpq_conninfo,
)
from adapters.clock import SystemClock
from adapters.ids import UuidGenerator
from adapters.mail import ConsoleMailer, DisabledMailer, InMemoryMailer, SmtpMailer, SmtpSettings
from adapters.memory.housekeeping import InMemoryHousekeeping
from adapters.memory.lab_data import seed_reference_data
from adapters.memory.reports import InMemoryComplianceReports
from adapters.memory.store import InMemoryStore
from adapters.memory.unit_of_work import InMemoryAuditChain, InMemoryUnitOfWork
from adapters.passwords import PasslibPasswordHasher
from adapters.rate_limit import InMemoryRateLimiter
from adapters.sqlalchemy.audit_chain import SqlAlchemyAuditChain
from adapters.sqlalchemy.engine import SqlHealthProbe, make_engine
from adapters.sqlalchemy.housekeeping import SqlHousekeeping
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.rate_limiter import PostgresRateLimiter
from adapters.sqlalchemy.reference_cache import ReferenceDataCache
from adapters.sqlalchemy.reports import SqlAlchemyComplianceReports
from adapters.sqlalchemy.unit_of_work import (
    SqlAlchemyUnitOfWork,
    make_read_only_session_factory,
    make_session_factory,
)
from adapters.tokens import (
    BetterAuthTokenVerifier,
    IssuerRoutingVerifier,
    JwtTokenService,
    RememberingVerifier,
)
from application import audit_log, auth, housekeeping, labs, reference, samples, tasks, users
from application import reports as compliance_reports
from application import sync as sync_engine
from application.sync_entities import lab_data_entities
from domain.ports import AuthenticationCache
from entrypoints.config import Settings, jwt_secret


class MemoryHealthProbe:
    def check(self) -> dict[str, Any]:
        return {"database": "memory"}


def _engine_resource(url: str, pool_size: int) -> Iterator[sa.Engine]:
    start_mappers()
    engine = make_engine(url, pool_size=pool_size)
    yield engine
    engine.dispose()


def _auth_cache_resource(settings: Settings, url: str) -> Iterator[AuthenticationCache]:
    """A listening cache per process (each gunicorn worker builds its own after the fork).
    It connects on first use, so the sealer and one-shot commands hold no listener."""
    if settings.storage != "sql" or settings.auth_cache == "off":
        yield NoAuthenticationCache()
        return
    cache = ListeningAuthenticationCache(libpq_conninfo(url))
    try:
        yield cache
    finally:
        cache.stop()


def _mailer(settings: Settings) -> Any:
    if settings.smtp_url is not None:
        return SmtpMailer(
            SmtpSettings.from_url(settings.smtp_url.get_secret_value(), settings.mail_from)
        )
    if settings.aqualab_env == "test":
        return InMemoryMailer()
    if settings.is_production:
        return DisabledMailer()
    return ConsoleMailer()


def _better_auth(settings: Settings, clock: SystemClock) -> BetterAuthTokenVerifier | None:
    if settings.better_auth_secret is None:
        return None
    return BetterAuthTokenVerifier(
        settings.better_auth_secret.get_secret_value(),
        issuer=settings.better_auth_issuer,
        audience=settings.better_auth_audience,
        clock=clock,
    )


def _auth_settings(settings: Settings) -> auth.AuthSettings:
    return auth.AuthSettings(
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
        reset_ttl=timedelta(seconds=settings.reset_token_ttl),
        lockout_attempts=settings.lockout_attempts,
        lockout_duration=timedelta(minutes=settings.lockout_minutes),
        register_rate=settings.rate("register"),
        login_rate=settings.rate("login"),
        forgot_rate=settings.rate("forgot"),
        reset_url=settings.reset_url,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Dependency(instance_of=str, default="")

    # --- small services -----------------------------------------------------------
    clock = providers.ThreadSafeSingleton(SystemClock)
    ids = providers.ThreadSafeSingleton(UuidGenerator)
    hasher = providers.ThreadSafeSingleton(
        PasslibPasswordHasher,
        memory_kib=settings.provided.password_hash_memory_kib,
        time_cost=settings.provided.password_hash_time_cost,
        parallelism=settings.provided.password_hash_parallelism,
    )
    tokens = providers.ThreadSafeSingleton(
        JwtTokenService,
        secret=providers.Callable(jwt_secret, settings),
        access_ttl=providers.Callable(lambda s: timedelta(seconds=s.access_token_ttl), settings),
        clock=clock,
    )
    access_verifier = providers.ThreadSafeSingleton(
        RememberingVerifier,
        providers.Factory(
            IssuerRoutingVerifier,
            own=tokens,
            external=providers.Callable(_better_auth, settings, clock),
        ),
        clock=clock,
    )
    mailer = providers.ThreadSafeSingleton(_mailer, settings)
    api_rate_limiter = providers.ThreadSafeSingleton(InMemoryRateLimiter)

    # --- storage: memory or sql, by configuration ----------------------------------
    memory_store = providers.ThreadSafeSingleton(lambda: seed_reference_data(InMemoryStore()))
    engine = providers.Resource(
        _engine_resource, url=database_url, pool_size=settings.provided.pool_size
    )
    session_factory = providers.ThreadSafeSingleton(make_session_factory, engine)
    read_only_session_factory = providers.ThreadSafeSingleton(
        make_read_only_session_factory, engine
    )
    reference_cache = providers.ThreadSafeSingleton(ReferenceDataCache)
    auth_cache = providers.Resource(_auth_cache_resource, settings=settings, url=database_url)
    # Whatever this process's AUTH_CACHE: other processes on the database may keep sessions.
    auth_change_acks = providers.ThreadSafeSingleton(ChangeAcknowledgements, engine=engine)

    storage = providers.Callable(lambda s: s.storage, settings)
    uow = providers.Selector(
        storage,
        memory=providers.Factory(InMemoryUnitOfWork, store=memory_store),
        sql=providers.Factory(
            SqlAlchemyUnitOfWork,
            session_factory=session_factory,
            read_only_session_factory=read_only_session_factory,
            reference_cache=reference_cache,
            after_auth_change=auth_change_acks.provided.wait,
        ),
    )
    audit_chain = providers.Selector(
        storage,
        memory=providers.ThreadSafeSingleton(InMemoryAuditChain, store=memory_store),
        sql=providers.ThreadSafeSingleton(SqlAlchemyAuditChain, engine=engine),
    )
    auth_rate_limiter = providers.Selector(
        storage,
        memory=providers.ThreadSafeSingleton(InMemoryRateLimiter),
        sql=providers.ThreadSafeSingleton(PostgresRateLimiter, engine=engine),
    )
    health_probe = providers.Selector(
        storage,
        memory=providers.ThreadSafeSingleton(MemoryHealthProbe),
        sql=providers.ThreadSafeSingleton(SqlHealthProbe, engine=engine),
    )

    # --- use cases ----------------------------------------------------------------
    auth_deps = providers.ThreadSafeSingleton(
        auth.AuthDeps,
        uow=uow.provider,
        clock=clock,
        ids=ids,
        hasher=hasher,
        tokens=tokens,
        rate_limiter=auth_rate_limiter,
        mailer=mailer,
        settings=providers.Callable(_auth_settings, settings),
        verifier=access_verifier,
        auth_cache=auth_cache,
    )
    user_deps = providers.ThreadSafeSingleton(
        users.UserDeps, uow=uow.provider, clock=clock, ids=ids, hasher=hasher
    )
    lab_deps = providers.ThreadSafeSingleton(labs.LabDeps, uow=uow.provider, clock=clock, ids=ids)
    audit_deps = providers.ThreadSafeSingleton(
        audit_log.AuditDeps, uow=uow.provider, chain=audit_chain
    )
    margin = providers.Callable(lambda s: s.compliance_margin, settings)
    lab_data_deps = providers.ThreadSafeSingleton(
        samples.LabDataDeps, uow=uow.provider, clock=clock, ids=ids, margin=margin
    )
    reference_deps = providers.ThreadSafeSingleton(
        reference.ReferenceDeps, uow=uow.provider, clock=clock, ids=ids, margin=margin
    )
    # Every syncable entity, in lock order; tasks and later entities register here.
    sync_entities = providers.ThreadSafeSingleton(lab_data_entities)
    sync_deps = providers.ThreadSafeSingleton(
        sync_engine.SyncDeps,
        uow=uow.provider,
        clock=clock,
        ids=ids,
        entities=sync_entities,
        margin=margin,
        tombstone_retention=providers.Callable(
            lambda s: timedelta(days=s.sync_tombstone_retention_days), settings
        ),
    )

    register = providers.ThreadSafeSingleton(auth.Register, auth_deps)
    login = providers.ThreadSafeSingleton(auth.Login, auth_deps)
    refresh = providers.ThreadSafeSingleton(auth.Refresh, auth_deps)
    logout = providers.ThreadSafeSingleton(auth.Logout, auth_deps)
    forgot_password = providers.ThreadSafeSingleton(auth.ForgotPassword, auth_deps)
    reset_password = providers.ThreadSafeSingleton(auth.ResetPassword, auth_deps)
    authenticate = providers.ThreadSafeSingleton(auth.Authenticate, auth_deps)

    list_users = providers.ThreadSafeSingleton(users.ListUsers, user_deps)
    get_user = providers.ThreadSafeSingleton(users.GetUser, user_deps)
    create_user = providers.ThreadSafeSingleton(users.CreateUser, user_deps)
    update_user = providers.ThreadSafeSingleton(users.UpdateUser, user_deps)
    delete_user = providers.ThreadSafeSingleton(users.DeleteUser, user_deps)
    create_admin = providers.ThreadSafeSingleton(users.CreateOrUpdateAdmin, user_deps)

    list_labs = providers.ThreadSafeSingleton(labs.ListLabs, lab_deps)
    get_lab = providers.ThreadSafeSingleton(labs.GetLab, lab_deps)
    create_lab = providers.ThreadSafeSingleton(labs.CreateLab, lab_deps)
    update_lab = providers.ThreadSafeSingleton(labs.UpdateLab, lab_deps)

    list_audit = providers.ThreadSafeSingleton(audit_log.ListAuditEntries, audit_deps)
    verify_audit = providers.ThreadSafeSingleton(audit_log.VerifyAuditChain, audit_deps)

    list_parameters = providers.ThreadSafeSingleton(reference.ListParameters, reference_deps)
    get_parameter = providers.ThreadSafeSingleton(reference.GetParameter, reference_deps)
    create_parameter = providers.ThreadSafeSingleton(reference.CreateParameter, reference_deps)
    update_parameter = providers.ThreadSafeSingleton(reference.UpdateParameter, reference_deps)
    list_standards = providers.ThreadSafeSingleton(reference.ListStandards, reference_deps)
    get_standard = providers.ThreadSafeSingleton(reference.GetStandard, reference_deps)
    put_limit = providers.ThreadSafeSingleton(reference.PutLimit, reference_deps)

    list_samples = providers.ThreadSafeSingleton(samples.ListSamples, lab_data_deps)
    get_sample = providers.ThreadSafeSingleton(samples.GetSample, lab_data_deps)
    create_sample = providers.ThreadSafeSingleton(samples.CreateSample, lab_data_deps)
    update_sample = providers.ThreadSafeSingleton(samples.UpdateSample, lab_data_deps)
    delete_sample = providers.ThreadSafeSingleton(samples.DeleteSample, lab_data_deps)
    list_results = providers.ThreadSafeSingleton(samples.ListResults, lab_data_deps)
    get_result = providers.ThreadSafeSingleton(samples.GetResult, lab_data_deps)
    create_result = providers.ThreadSafeSingleton(samples.CreateResult, lab_data_deps)
    update_result = providers.ThreadSafeSingleton(samples.UpdateResult, lab_data_deps)
    delete_result = providers.ThreadSafeSingleton(samples.DeleteResult, lab_data_deps)

    sync = providers.ThreadSafeSingleton(sync_engine.Sync, sync_deps)
    sync_status = providers.ThreadSafeSingleton(sync_engine.SyncStatus, sync_deps)
    list_conflicts = providers.ThreadSafeSingleton(sync_engine.ListConflicts, sync_deps)
    resolve_conflict = providers.ThreadSafeSingleton(sync_engine.ResolveConflict, sync_deps)

    # --- tasks (private to-do lists) ----------------------------------------------------
    task_deps = providers.ThreadSafeSingleton(
        tasks.TaskDeps, uow=uow.provider, clock=clock, ids=ids
    )
    list_tasks = providers.ThreadSafeSingleton(tasks.ListTasks, task_deps)
    get_task = providers.ThreadSafeSingleton(tasks.GetTask, task_deps)
    create_task = providers.ThreadSafeSingleton(tasks.CreateTask, task_deps)
    update_task = providers.ThreadSafeSingleton(tasks.UpdateTask, task_deps)
    complete_task = providers.ThreadSafeSingleton(tasks.CompleteTask, task_deps)
    delete_task = providers.ThreadSafeSingleton(tasks.DeleteTask, task_deps)

    # --- housekeeping (`aqualab purge`) ---------------------------------------------
    housekeeping_store = providers.Selector(
        storage,
        memory=providers.ThreadSafeSingleton(InMemoryHousekeeping, store=memory_store),
        sql=providers.ThreadSafeSingleton(SqlHousekeeping, engine=engine),
    )
    purge_deps = providers.ThreadSafeSingleton(
        housekeeping.PurgeDeps,
        store=housekeeping_store,
        clock=clock,
        settings=providers.Callable(
            lambda s: housekeeping.PurgeSettings(
                access_ttl=timedelta(seconds=s.access_token_ttl),
                tombstone_retention=timedelta(days=s.sync_tombstone_retention_days),
            ),
            settings,
        ),
    )
    purge = providers.ThreadSafeSingleton(housekeeping.Purge, purge_deps)

    # --- compliance reports (issue 5) -----------------------------------------------
    report_figures = providers.Selector(
        storage,
        memory=providers.ThreadSafeSingleton(InMemoryComplianceReports, store=memory_store),
        sql=providers.ThreadSafeSingleton(SqlAlchemyComplianceReports, engine=engine),
    )
    report_deps = providers.ThreadSafeSingleton(
        compliance_reports.ReportDeps,
        uow=uow.provider,
        reports=report_figures,
        chain=audit_chain,
        clock=clock,
    )
    compliance_report = providers.ThreadSafeSingleton(
        compliance_reports.GenerateComplianceReport, report_deps
    )


USE_CASES = (
    "register",
    "login",
    "refresh",
    "logout",
    "forgot_password",
    "reset_password",
    "authenticate",
    "list_users",
    "get_user",
    "create_user",
    "update_user",
    "delete_user",
    "create_admin",
    "list_labs",
    "get_lab",
    "create_lab",
    "update_lab",
    "list_audit",
    "verify_audit",
    "list_parameters",
    "get_parameter",
    "create_parameter",
    "update_parameter",
    "list_standards",
    "get_standard",
    "put_limit",
    "list_samples",
    "get_sample",
    "create_sample",
    "update_sample",
    "delete_sample",
    "list_results",
    "get_result",
    "create_result",
    "update_result",
    "delete_result",
    "sync",
    "sync_status",
    "list_conflicts",
    "resolve_conflict",
    "list_tasks",
    "get_task",
    "create_task",
    "update_task",
    "complete_task",
    "delete_task",
    "purge",
    "compliance_report",
)


def build_container(settings: Settings, database_url: str | None = None) -> Container:
    """Wire everything and touch every provider once, before any thread serves a request."""
    container = Container(
        settings=settings, database_url=database_url or settings.database_url or ""
    )
    if settings.storage == "sql":
        if not container.database_url():
            raise ValueError("the sql storage needs a database URL")
        container.init_resources()
    for name in USE_CASES:
        getattr(container, name)()
    container.health_probe()
    container.audit_chain()
    container.api_rate_limiter()
    return container
