"""Use cases wired to in-memory adapters, a fixed clock and a recording mailer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import pytest

from adapters.clock import FixedClock
from adapters.ids import UuidGenerator
from adapters.mail import InMemoryMailer
from adapters.memory.store import InMemoryStore
from adapters.memory.unit_of_work import InMemoryAuditChain, InMemoryUnitOfWork
from adapters.passwords import PasslibPasswordHasher
from adapters.rate_limit import InMemoryRateLimiter
from adapters.tokens import JwtTokenService
from application import audit_log, auth, labs, users
from application.context import Caller, RequestMeta
from domain.ports import RateLimit
from domain.roles import Role


@dataclass
class World:
    store: InMemoryStore
    clock: FixedClock
    mailer: InMemoryMailer
    limiter: InMemoryRateLimiter
    auth: auth.AuthDeps
    users: users.UserDeps
    labs: labs.LabDeps
    audit: audit_log.AuditDeps

    def uow(self, *, read_only: bool = False) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, read_only=read_only)

    def register(
        self, email: str = "ana@lab.ma", password: str = "Passw0rdX", ip: str = "10.0.0.1"
    ) -> auth.Session:
        return auth.Register(self.auth)(
            auth.RegisterCommand(email, password, "Ana"), RequestMeta(client_ip=ip)
        )

    def login(
        self, email: str = "ana@lab.ma", password: str = "Passw0rdX", ip: str = "10.0.0.1"
    ) -> auth.Session:
        return auth.Login(self.auth)(auth.LoginCommand(email, password), RequestMeta(client_ip=ip))

    def admin(self, email: str = "root@lab.ma", lab: str | None = "Central") -> Caller:
        view = users.CreateOrUpdateAdmin(self.users)(
            email=email, password="Passw0rdX", lab_name=lab, meta_reason="test"
        )
        principal = auth.Authenticate(self.auth)(self.login(email).tokens.access_token).principal
        assert principal.role is Role.ADMIN and principal.user_id == view.id
        return Caller(principal, RequestMeta(request_id="req-admin", reason="testing"))


@pytest.fixture
def world() -> World:
    store = InMemoryStore()
    clock = FixedClock()
    ids = UuidGenerator()
    hasher = PasslibPasswordHasher(memory_kib=1024, time_cost=1)
    mailer = InMemoryMailer()
    limiter = InMemoryRateLimiter()
    uow = partial(InMemoryUnitOfWork, store)
    settings = auth.AuthSettings(
        register_rate=RateLimit(1000, 60),
        login_rate=RateLimit(1000, 60),
        forgot_rate=RateLimit(1000, 60),
        reset_url="http://testserver/reset-password",
    )
    tokens = JwtTokenService(
        "unit-test-secret-unit-test-secret!", access_ttl=timedelta(hours=24), clock=clock
    )
    return World(
        store=store,
        clock=clock,
        mailer=mailer,
        limiter=limiter,
        auth=auth.AuthDeps(uow, clock, ids, hasher, tokens, limiter, mailer, settings),
        users=users.UserDeps(uow, clock, ids, hasher),
        labs=labs.LabDeps(uow, clock, ids),
        audit=audit_log.AuditDeps(uow, InMemoryAuditChain(store)),
    )
