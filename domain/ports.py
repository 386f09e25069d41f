"""Ports: the interfaces the core needs from the outside world.

Adapters come in pairs (SQL / in-memory, system / fixed clock, SMTP / console
mailer, …) and are chosen by the composition root in `entrypoints/`.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from domain.audit import AuditAction, AuditEntityType, AuditEntry, ChainReport
from domain.compliance import ComplianceStatus
from domain.lab_data import (
    Parameter,
    ReferenceData,
    Sample,
    SampleStatus,
    SampleType,
    Standard,
    StandardLimit,
    TestResult,
)
from domain.model import AuthSession, Lab, PasswordResetToken, RefreshToken, User
from domain.paging import Page, PageRequest, Sort
from domain.reports import ReportFigures, ReportFilters
from domain.roles import Role
from domain.sync import FeedPosition, SyncConflict, SyncDevice
from domain.tasks import Task, TaskPriority, TaskStatus

# --- small services ---------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, replacement hash when the stored one uses an outdated scheme)."""
        ...

    def dummy_verify(self) -> None:
        """Spend the time of one verification, so unknown emails cost as much as known ones."""
        ...


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says. `session_id` is None for a token another
    issuer (Better Auth) signed: AquaLab holds no session for it."""

    user_id: UUID
    session_id: UUID | None
    jti: str
    issued_at: datetime
    expires_at: datetime
    role: str | None = None
    lab_id: UUID | None = None


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int
    expires_at: datetime


class AccessTokenVerifier(Protocol):
    def verify_access(self, token: str) -> AccessClaims:
        """Raise `Unauthenticated` for a bad, expired or malformed token."""
        ...


class TokenService(AccessTokenVerifier, Protocol):
    def issue_access(self, user: User, session_id: UUID, now: datetime) -> IssuedAccessToken: ...


class Mailer(Protocol):
    def send(self, *, to: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after_seconds: int


class RateLimiter(Protocol):
    def hit(self, key: str, rule: RateLimit) -> RateDecision:
        """Count one event for `key` and say whether it is within `rule`."""
        ...


class AuthenticationCache(Protocol):
    """Sessions with their users, kept between requests only while every change to them
    is known to reach this process at once (ADR 0020)."""

    def ticket(self) -> object | None:
        """Take before reading from the database; pass to `put`. None: not caching now."""
        ...

    def get(self, session_id: UUID) -> tuple[AuthSession, User] | None: ...

    def put(self, session_id: UUID, found: tuple[AuthSession, User], ticket: object | None) -> None:
        """Keep `found` unless a change may have happened since `ticket` was taken."""
        ...


# --- repositories -----------------------------------------------------------------


@dataclass(frozen=True)
class UserQuery:
    role: Role | None = None
    lab_id: UUID | None = None
    is_active: bool | None = None
    search: str | None = None
    sort: Sort = Sort("created_at", descending=True)
    page: PageRequest = PageRequest()


USER_SORT_FIELDS = ("created_at", "updated_at", "email", "name", "role", "last_login_at")


class UserRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, user: User) -> None: ...

    @abc.abstractmethod
    def get(self, user_id: UUID) -> User | None:
        """A live (not deleted) user."""

    @abc.abstractmethod
    def get_by_email(self, email: str) -> User | None:
        """A live user by normalized email."""

    @abc.abstractmethod
    def list(self, query: UserQuery) -> Page[User]: ...

    @abc.abstractmethod
    def count_active_admins(self) -> int: ...


@dataclass(frozen=True)
class LabQuery:
    search: str | None = None
    sort: Sort = Sort("name")
    page: PageRequest = PageRequest()


LAB_SORT_FIELDS = ("name", "code", "created_at", "updated_at")


class LabRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, lab: Lab) -> None: ...

    @abc.abstractmethod
    def get(self, lab_id: UUID) -> Lab | None: ...

    @abc.abstractmethod
    def get_by_name(self, name: str) -> Lab | None:
        """Case-insensitive."""

    @abc.abstractmethod
    def get_by_code(self, code: str) -> Lab | None:
        """Case-insensitive."""

    @abc.abstractmethod
    def list(self, query: LabQuery) -> Page[Lab]: ...


class SessionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, session: AuthSession) -> None: ...

    @abc.abstractmethod
    def get(self, session_id: UUID) -> AuthSession | None: ...

    @abc.abstractmethod
    def get_with_user(self, session_id: UUID) -> tuple[AuthSession, User] | None:
        """The session and its live (not deleted) user, in one lookup (every request does it)."""

    @abc.abstractmethod
    def revoke_all_for_user(self, user_id: UUID, now: datetime) -> int: ...


class RefreshTokenRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, token: RefreshToken) -> None: ...

    @abc.abstractmethod
    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        """Locks the row so two concurrent refreshes cannot both rotate it."""


class PasswordResetTokenRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, token: PasswordResetToken) -> None: ...

    @abc.abstractmethod
    def get_by_hash_for_update(self, token_hash: str) -> PasswordResetToken | None: ...

    @abc.abstractmethod
    def invalidate_all_for_user(self, user_id: UUID, now: datetime) -> None: ...


@dataclass(frozen=True)
class AuditQuery:
    date_from: datetime | None = None
    date_to: datetime | None = None
    user_id: UUID | None = None
    entity_type: AuditEntityType | None = None
    entity_id: str | None = None
    action: AuditAction | None = None
    page: PageRequest = PageRequest()


class AuditTrail(abc.ABC):
    """Append-only. `append` joins the caller's transaction; sealing runs on its own."""

    @abc.abstractmethod
    def append(self, entry: AuditEntry) -> None: ...

    @abc.abstractmethod
    def list(self, query: AuditQuery) -> Page[AuditEntry]:
        """Newest first."""


class AuditChain(abc.ABC):
    """Links committed entries into the hash chain and checks it."""

    @abc.abstractmethod
    def seal_pending(self) -> int:
        """Chain every committed, unsealed entry; returns how many were sealed.

        Safe to call from many processes at once: only one seals at a time.
        """

    @abc.abstractmethod
    def verify(self) -> ChainReport: ...

    @abc.abstractmethod
    def head_hash(self) -> str: ...


# --- lab data -----------------------------------------------------------------------


class ParameterRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, parameter: Parameter) -> None: ...

    @abc.abstractmethod
    def get(self, parameter_id: UUID) -> Parameter | None: ...

    @abc.abstractmethod
    def get_by_code(self, code: str) -> Parameter | None: ...

    @abc.abstractmethod
    def all(self) -> list[Parameter]:
        """All parameters, by code (a few dozen at most)."""


class StandardRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, standard: Standard) -> None: ...

    @abc.abstractmethod
    def get(self, code: str) -> Standard | None: ...

    @abc.abstractmethod
    def all(self) -> list[Standard]: ...

    @abc.abstractmethod
    def add_limit(self, limit: StandardLimit) -> None: ...

    @abc.abstractmethod
    def get_limit(self, standard_code: str, parameter_code: str) -> StandardLimit | None: ...

    @abc.abstractmethod
    def limits_of_standard(self, standard_code: str) -> list[StandardLimit]:
        """By parameter code."""

    @abc.abstractmethod
    def limits_for_parameter(self, parameter_code: str) -> list[StandardLimit]:
        """Every standard's limit for one parameter, by standard code."""


@dataclass(frozen=True)
class SampleQuery:
    lab_id: UUID | None = None  # None: every lab (admins)
    date_from: datetime | None = None
    date_to: datetime | None = None
    type: SampleType | None = None
    location: str | None = None  # exact, case-insensitive
    compliance_status: ComplianceStatus | None = None
    status: SampleStatus | None = None
    search: str | None = None  # id prefix, location or collector name, case-insensitive
    sort: Sort = Sort("collection_date", descending=True)
    page: PageRequest = PageRequest()


SAMPLE_SORT_FIELDS = (
    "collection_date",
    "created_at",
    "updated_at",
    "location",
    "collector_name",
    "type",
    "status",
    "compliance_status",
)


@dataclass(frozen=True)
class SampleWithResults:
    """A live sample and its live results, read to be shown (`GET /samples/{id}`)."""

    lab_id: UUID
    version: int
    # The records: the sample and its results in `get_with_results`' order. None when the
    # storage serialized them instead.
    records: tuple[Sample, list[TestResult]] | None = None
    # The sample with its results exactly as its view (`SampleView` with `results`) is
    # sent, already serialized as JSON by the storage (None: built from `records`).
    data_json: str | None = None


class SampleRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, sample: Sample) -> None: ...

    @abc.abstractmethod
    def get(self, sample_id: UUID, *, lock: bool = False) -> Sample | None:
        """A live sample (tombstones are None). `lock` holds it until the unit of work
        ends, so writes that read, check and change it (its version, its compliance
        status) are made one after the other. A write to a result locks the result, then
        its sample (the sync engine's order too: no deadlocks)."""

    @abc.abstractmethod
    def get_including_deleted(self, sample_id: UUID) -> Sample | None: ...

    @abc.abstractmethod
    def get_with_results(self, sample_id: UUID) -> tuple[Sample, list[TestResult]] | None:
        """A live sample and its live results (as `ResultRepository.list_for_sample`) in
        one read."""

    @abc.abstractmethod
    def show_with_results(self, sample_id: UUID) -> SampleWithResults | None:
        """`get_with_results` for a read that only shows them: the storage may hand them
        over already serialized as JSON (building the JSON in PostgreSQL is cheaper than
        decoding the rows into records and encoding them again, ADR 0022)."""

    @abc.abstractmethod
    def list(self, query: SampleQuery) -> Page[Sample]:
        """Live samples; ties in the sort order are broken by id in the same direction."""

    @abc.abstractmethod
    def add_many(self, samples: Sequence[Sample]) -> None:
        """Store new samples in bulk, as they are now; later changes to these objects in
        the same unit of work are not tracked (the sync engine writes them last)."""

    @abc.abstractmethod
    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, Sample]:
        """Samples by id, tombstones included; `lock` holds them until the unit of work ends
        (taken in id order, so concurrent batches cannot deadlock on each other)."""


class ResultRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, result: TestResult) -> None: ...

    @abc.abstractmethod
    def get(self, result_id: UUID, *, lock: bool = False) -> TestResult | None:
        """A live result (tombstones are None); `lock` as for samples."""

    @abc.abstractmethod
    def get_including_deleted(self, result_id: UUID) -> TestResult | None: ...

    @abc.abstractmethod
    def list_for_sample(self, sample_id: UUID) -> list[TestResult]:
        """Live results of one sample, oldest test first (then by id)."""

    @abc.abstractmethod
    def ids_for_parameter(self, parameter_code: str) -> list[UUID]:
        """Live results measuring one parameter (for an explicit re-evaluation)."""

    @abc.abstractmethod
    def add_many(self, results: Sequence[TestResult]) -> None:
        """Store new results in bulk (as `SampleRepository.add_many`)."""

    @abc.abstractmethod
    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, TestResult]:
        """Results by id, tombstones included; `lock` as for samples."""

    @abc.abstractmethod
    def statuses_for_samples(
        self, sample_ids: Collection[UUID]
    ) -> dict[UUID, list[ComplianceStatus]]:
        """The compliance status of every live result of each sample (one query)."""


# --- tasks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskQuery:
    owner_id: UUID  # task lists are private: every query names its owner
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    completed: bool | None = None  # true: status is completed; false: any other status
    sort: Sort = Sort("created_at", descending=True)
    page: PageRequest = PageRequest()


# `priority` sorts by rank (low < medium < high); `due_date` puts tasks without one last.
TASK_SORT_FIELDS = ("created_at", "updated_at", "priority", "due_date")


class TaskRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, task: Task) -> None: ...

    @abc.abstractmethod
    def get(self, task_id: UUID) -> Task | None:
        """A live task, whoever owns it (tombstones are None)."""

    @abc.abstractmethod
    def get_including_deleted(self, task_id: UUID) -> Task | None: ...

    @abc.abstractmethod
    def list(self, query: TaskQuery) -> Page[Task]:
        """One owner's live tasks; ties in the sort order are broken by id in the same
        direction; tasks without the sorted value (a due date) come last either way."""


# --- sync --------------------------------------------------------------------------------


class SyncDeviceRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, device: SyncDevice) -> None: ...

    @abc.abstractmethod
    def get(self, device_id: str, *, lock: bool = False) -> SyncDevice | None:
        """`lock` serializes concurrent batches of one device until the unit of work ends."""


@dataclass(frozen=True)
class ConflictQuery:
    lab_id: UUID
    entity: str | None = None
    resolved: bool | None = None
    page: PageRequest = PageRequest()


class SyncConflictRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, conflict: SyncConflict) -> None: ...

    @abc.abstractmethod
    def get(self, conflict_id: UUID, *, lock: bool = False) -> SyncConflict | None: ...

    @abc.abstractmethod
    def list(self, query: ConflictQuery) -> Page[SyncConflict]:
        """Newest first."""


@dataclass(frozen=True)
class FeedItem:
    entity: str
    position: FeedPosition
    # The record, tombstones included: the entity's domain object, or a read-only row
    # with at least `id`, `version` and `deleted_at`.
    record: Any
    # The live record exactly as the entity would send it, already serialized as JSON by
    # the storage (None: the engine asks the entity to build it from `record`).
    data_json: str | None = None


class ChangeFeed(abc.ABC):
    """Every syncable record in the order its changes became durable (docs/adr/0009)."""

    @abc.abstractmethod
    def after(
        self, lab_id: UUID, entities: Sequence[str], position: FeedPosition, limit: int
    ) -> list[FeedItem]:
        """Up to `limit` records of one lab changed after `position`, oldest change first.

        Only changes that can no longer be overtaken are served: a change waits while its
        own transaction or any older writing transaction is still running, so a cursor
        never moves past a change that commits late.
        """


# --- unit of work -----------------------------------------------------------------


class UnitOfWork(abc.ABC):
    """One business transaction. Leaving the block without `commit()` rolls back."""

    users: UserRepository
    labs: LabRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    reset_tokens: PasswordResetTokenRepository
    audit: AuditTrail
    parameters: ParameterRepository
    standards: StandardRepository
    samples: SampleRepository
    results: ResultRepository
    sync_devices: SyncDeviceRepository
    sync_conflicts: SyncConflictRepository
    changes: ChangeFeed
    tasks: TaskRepository

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
        self.close()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; adapters override when they hold any."""

    def reference(self) -> ReferenceData:
        """The current parameters, standards and limits, as this unit of work sees them
        (its own uncommitted changes included). Adapters may hand out a view shared
        between units of work as long as it is the same data."""
        return load_reference(self.parameters, self.standards)


def load_reference(parameters: ParameterRepository, standards: StandardRepository) -> ReferenceData:
    every_standard = standards.all()
    return ReferenceData(
        parameters.all(),
        every_standard,
        [limit for s in every_standard for limit in standards.limits_of_standard(s.code)],
    )


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work. `read_only=True` promises it will write nothing: it may
        then skip the transaction around its reads (each read sees committed data, as
        in a READ COMMITTED transaction) and `commit()` refuses."""
        ...


class HealthProbe(Protocol):
    def check(self) -> dict[str, Any]:
        """Raise `StorageUnavailable` when a dependency is down; else facts about it."""
        ...


# --- compliance reports (issue 5) ----------------------------------------------------------


class ComplianceReports(abc.ABC):
    """Read-only aggregates for compliance reports, computed by the storage in one snapshot.

    Only live samples and live results count (tombstones never do).
    """

    @abc.abstractmethod
    def figures(self, filters: ReportFilters) -> ReportFigures: ...
