"""Demo users and tasks for `aqualab seed-demo --users N --tasks N` (see demo_data.py).

Users: index 0 is the lab's admin, about one in six a viewer, the rest technicians, spread
over the seeded labs in turn. Emails are predictable (`technician07@<lab-slug>.lab.example`)
so a second run finds the same people again: existing live users are reused (their
password unchanged), only the missing ones are created. Every new user gets the one
password hash the caller computed once (argon2 is slow by design; 50 hashes would not be).

Tasks: realistic titles, statuses, priorities and due dates over those users (technicians
own more than viewers), about a third linked to a live sample of the owner's lab, so
`sample_id` is always a link the API itself would accept.

Both are written with COPY, with one audit_log `create` entry per row whose `new_values`
is the domain object's `snapshot()` (reason "aqualab seed-demo", the run's request id),
in the same transaction, exactly as demo_data.py writes samples and results; the
database's trigger queues each entry for the sealer.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.demo_data import (
    FIRST_NAMES,
    LAST_NAMES,
    SEED_REASON,
    _copy,
    _json,
    _opt,
    _text,
)
from domain.roles import Role
from domain.tasks import TaskPriority, TaskStatus

VIEWER_EVERY = 6  # one user in six is a viewer
TASK_BATCH = 5_000
SAMPLE_LINK_RATE = 0.3
SAMPLES_PER_LAB_FOR_LINKS = 2_000
TASK_OWNER_WEIGHT = {Role.TECHNICIAN: 3.0, Role.ADMIN: 2.0, Role.VIEWER: 1.0}

USER_COLUMNS = (
    "id, email, name, role, lab_id, password_hash, is_active, created_at, updated_at, version"
)
TASK_COLUMNS = (
    "id, owner_id, title, description, status, priority, due_date, sample_id, version, "
    "created_at, created_by, updated_at, updated_by"
)
AUDIT_COLUMNS = (
    "occurred_at, entity_type, entity_id, action, new_values, reason, request_id, lab_id"
)

STATUSES = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
STATUS_WEIGHTS = (45.0, 25.0, 30.0)
PRIORITIES = (TaskPriority.LOW, TaskPriority.MEDIUM, TaskPriority.HIGH)
PRIORITY_WEIGHTS = (25.0, 50.0, 25.0)

SAMPLE_TASKS = (
    "Re-test {parameter} on the sample from {site}",
    "Review the results of {site}",
    "Confirm the compliance verdict for {site}",
    "Send the {site} sample to the regional lab",
    "Add the field notes for {site}",
)
GENERAL_TASKS = (
    "Calibrate the {instrument}",
    "Order {reagent}",
    "Prepare the monthly compliance report",
    "Plan next week's sampling round",
    "Clean and sterilise the sampling bottles",
    "Check the incubator temperature log",
    "Renew the proficiency test registration",
    "Archive last quarter's chain-of-custody forms",
    "Validate results batch {n}",
    "Service the {instrument}",
)
INSTRUMENTS = (
    "pH meter",
    "turbidimeter",
    "conductivity meter",
    "UV-Vis spectrophotometer",
    "ICP-MS",
    "ion chromatograph",
    "chlorine photometer",
)
REAGENTS = (
    "DPD tablets",
    "0.45 µm membrane filters",
    "nitrate calibration standards",
    "pH 4/7/10 buffer solutions",
    "Colilert reagent packs",
    "sample bottles with thiosulfate",
)
PARAMETERS = ("nitrate", "pH", "turbidity", "E. coli", "free chlorine", "arsenic", "fluoride")
DESCRIPTIONS = (
    "Requested at the Monday team meeting.",
    "See the lab's SOP before starting.",
    "Coordinate with the collector on site.",
    "Needed before the next audit.",
    "Follow-up of a warning result.",
)


@dataclass(frozen=True)
class DemoUser:
    id: UUID
    email: str
    name: str
    role: Role
    lab_id: UUID | None  # None only for an existing user found by email without a lab


@dataclass
class PeopleReport:
    users: list[DemoUser]
    created: int = 0
    existing: int = 0


def _slug(name: str, limit: int = 40) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:limit].strip("-") or "lab"


def planned_users(count: int, lab_ids: Sequence[UUID], lab_names: Sequence[str]) -> list[DemoUser]:
    """Who the run wants: ids are placeholders until `seed_users` finds or creates them."""
    rng = random.Random(count)  # noqa: S311 - demo names, not secrets
    used: set[str] = set()
    counters: dict[tuple[Role, int], int] = {}
    planned = []
    for i in range(count):
        role = (
            Role.ADMIN
            if i == 0
            else Role.VIEWER
            if i % VIEWER_EVERY == VIEWER_EVERY - 1
            else Role.TECHNICIAN
        )
        lab = i % len(lab_ids)
        number = counters[(role, lab)] = counters.get((role, lab), 0) + 1
        local = role.value if role is Role.ADMIN else f"{role.value}{number:02d}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        while name in used and len(used) < len(FIRST_NAMES) * len(LAST_NAMES):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        used.add(name)
        email = f"{local}@{_slug(lab_names[lab])}.lab.example"
        planned.append(DemoUser(UUID(int=0), email, name, role, lab_ids[lab]))
    return planned


def seed_users(
    engine: sa.Engine,
    count: int,
    lab_ids: Sequence[UUID],
    lab_names: Sequence[str],
    password_hash: str,
    *,
    now: datetime,
    request_id: str,
) -> PeopleReport:
    """Find or create `count` users of the labs, each new one audited; one transaction."""
    planned = planned_users(count, lab_ids, lab_names)
    if not planned:
        return PeopleReport([])
    u = tables.users.c
    with engine.connect() as conn:
        found = {
            row.email: row
            for row in conn.execute(
                sa.select(u.id, u.email, u.name, u.role, u.lab_id).where(
                    u.email.in_([p.email for p in planned]), u.deleted_at.is_(None)
                )
            )
        }
    ids = random.Random()  # noqa: S311 - fresh ids on every run
    stamp = now.astimezone(UTC).replace(microsecond=0)
    user_rows: list[str] = []
    audit_rows: list[str] = []
    users: list[DemoUser] = []
    for person in planned:
        row = found.get(person.email)
        if row is not None:
            users.append(DemoUser(row.id, row.email, row.name, Role(row.role), row.lab_id))
            continue
        user = DemoUser(
            UUID(int=ids.getrandbits(128), version=4),
            person.email,
            person.name,
            person.role,
            person.lab_id,
        )
        users.append(user)
        moment = stamp.isoformat()
        user_rows.append(
            "\t".join(
                (
                    str(user.id),
                    _text(user.email),
                    _text(user.name),
                    user.role.value,
                    str(user.lab_id),
                    _text(password_hash),
                    "t",
                    moment,
                    moment,
                    "1",
                )
            )
        )
        snapshot = {  # User.snapshot() of the stored row: never the password hash
            "id": str(user.id),
            "email": user.email,
            "name": user.name,
            "role": user.role.value,
            "lab_id": str(user.lab_id),
            "is_active": True,
            "deleted": False,
            "version": 1,
        }
        audit_rows.append(
            f"{moment}\tuser\t{user.id}\tcreate\t{_text(_json(snapshot))}"
            f"\t{_text(SEED_REASON)}\t{request_id}\t{user.lab_id}"
        )
    if user_rows:
        _write(engine, ("users", USER_COLUMNS, user_rows), ("audit_log", AUDIT_COLUMNS, audit_rows))
    return PeopleReport(users, created=len(user_rows), existing=len(planned) - len(user_rows))


def _write(engine: sa.Engine, *copies: tuple[str, str, list[str]]) -> None:
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        with pg.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            for table, columns, rows in copies:
                _copy(cursor, table, columns, "\n".join(rows) + "\n" if rows else "")
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def _linkable_samples(engine: sa.Engine, lab_ids: set[UUID]) -> dict[UUID, list[tuple[str, str]]]:
    """(id, location) of up to 2,000 random live samples per lab: what a task may point at."""
    s = tables.samples.c
    linkable: dict[UUID, list[tuple[str, str]]] = {}
    with engine.connect() as conn:
        for lab_id in sorted(lab_ids):
            rows = conn.execute(
                sa.select(s.id, s.location)
                .where(s.lab_id == lab_id, s.deleted_at.is_(None))
                .order_by(s.id)
                .limit(SAMPLES_PER_LAB_FOR_LINKS)
            )
            linkable[lab_id] = [(str(r.id), r.location) for r in rows]
    return linkable


class TaskGenerator:
    def __init__(
        self,
        users: Sequence[DemoUser],
        linkable: dict[UUID, list[tuple[str, str]]],
        *,
        seed: int,
        now: datetime,
        request_id: str,
    ):
        self.users = list(users)
        self.weights = [TASK_OWNER_WEIGHT[u.role] for u in self.users]
        self.linkable = linkable
        self.rng = random.Random(seed + 1)  # noqa: S311 - demo content
        self.ids = random.Random()  # noqa: S311 - fresh ids on every run
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.request_id = request_id
        self.batch_number = 0

    def _title(self, sample_location: str | None) -> str:
        rng = self.rng
        if sample_location is not None:
            form = rng.choice(SAMPLE_TASKS)
        else:
            form = rng.choice(GENERAL_TASKS)
        title = form.format(
            site=sample_location or "",
            parameter=rng.choice(PARAMETERS),
            instrument=rng.choice(INSTRUMENTS),
            reagent=rng.choice(REAGENTS),
            n=rng.randint(100, 999),
        )
        return title[:200]

    def batch(self, count: int) -> tuple[list[str], list[str]]:
        rng = self.rng
        occurred_at = datetime.now(UTC).isoformat()
        reason = _text(SEED_REASON)
        task_rows: list[str] = []
        audit_rows: list[str] = []
        for _ in range(count):
            owner = rng.choices(self.users, self.weights)[0]
            samples = self.linkable.get(owner.lab_id) if owner.lab_id else None
            samples = samples or []
            sample = rng.choice(samples) if samples and rng.random() < SAMPLE_LINK_RATE else None
            title = self._title(sample[1] if sample else None)
            description = rng.choice(DESCRIPTIONS) if rng.random() < 0.4 else None
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
            created = self.now - timedelta(seconds=rng.randint(3600, 120 * 86400))
            due = None
            if rng.random() < 0.75:
                day = (created + timedelta(days=rng.randint(1, 45))).replace(
                    hour=0, minute=0, second=0
                )
                due = day
            task_id = str(UUID(int=self.ids.getrandbits(128), version=4))
            sample_id = sample[0] if sample else None
            task_rows.append(
                "\t".join(
                    (
                        task_id,
                        str(owner.id),
                        _text(title),
                        _opt(description),
                        status.value,
                        priority.value,
                        due.isoformat() if due else "\\N",
                        sample_id or "\\N",
                        "1",
                        created.isoformat(),
                        "\\N",  # created by nobody: an operator command, like the samples
                        created.isoformat(),
                        "\\N",
                    )
                )
            )
            snapshot = {  # Task.snapshot() of the stored row
                "id": task_id,
                "owner_id": str(owner.id),
                "title": title,
                "description": description,
                "status": status.value,
                "priority": priority.value,
                "completed": status is TaskStatus.COMPLETED,
                "due_date": due.isoformat() if due else None,
                "sample_id": sample_id,
                "version": 1,
                "deleted": False,
            }
            # Like the API's CreateTask: a task's entry names no lab (a list is personal).
            audit_rows.append(
                f"{occurred_at}\ttask\t{task_id}\tcreate\t{_text(_json(snapshot))}"
                f"\t{reason}\t{self.request_id}\t\\N"
            )
        return task_rows, audit_rows


def seed_tasks(
    engine: sa.Engine,
    count: int,
    users: Sequence[DemoUser],
    *,
    seed: int,
    now: datetime,
    request_id: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """`count` tasks over `users`, each with its audit entry; a transaction per 5,000."""
    if count <= 0:
        return 0
    if not users:
        raise ValueError("tasks need users: pass --users N")
    linkable = _linkable_samples(engine, {u.lab_id for u in users if u.lab_id is not None})
    generator = TaskGenerator(users, linkable, seed=seed, now=now, request_id=request_id)
    written = 0
    while written < count:
        size = min(TASK_BATCH, count - written)
        task_rows, audit_rows = generator.batch(size)
        _write(engine, ("tasks", TASK_COLUMNS, task_rows), ("audit_log", AUDIT_COLUMNS, audit_rows))
        written += size
        if progress is not None:
            progress(size)
    return written
