"""Sync: how an offline device's edit meets the server's record (pure, no I/O).

Every syncable record keeps a *field clock*: for each field a client can set, the
version that last wrote it and the stamp (effective time, device) of that write.
Deletion is the pseudo-field `deleted`; an update asserts `deleted = false`, a delete
sets `deleted = true` and nothing else.

A mutation made against `base_version`:
- meets no conflict when `base_version` is the record's current version: it applies;
- otherwise each field it sets is compared with the server: a field the server did not
  change since `base_version` takes the client's value (the edits are *merged*); a field
  both changed goes to the later stamp (last-write-wins by `modified_at`, then device id,
  so the outcome does not depend on which device syncs first).

Every field a mutation gets to write is stamped, and makes a new version, even when its
value stays: the stamp is what decides against an edit that syncs later.

Client clocks are not trusted blindly: a time more than `CLOCK_SKEW_ALLOWANCE` ahead of
the server is replaced by the server's time (see `effective_time`). See
docs/adr/0009-sync-engine.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
DELETED = "deleted"
MAX_BATCH = 1_000
MAX_PULL = 1_000
DEFAULT_PULL = 500


class MutationOp(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class Resolution(StrEnum):
    SERVER_WON = "server_won"
    CLIENT_WON = "client_won"
    MERGED = "merged"


class ManualResolution(StrEnum):
    SERVER_WON = "server_won"
    CLIENT_WON = "client_won"
    CUSTOM = "custom"


class DeviceStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # the last batch had rejected mutations
    ERROR = "error"  # the last batch failed and advanced nothing


def effective_time(
    client_time: datetime, server_now: datetime, allowance: timedelta = CLOCK_SKEW_ALLOWANCE
) -> datetime:
    """The client's time, unless it runs more than `allowance` ahead of the server."""
    return server_now if client_time > server_now + allowance else client_time


@dataclass(frozen=True, order=True)
class Stamp:
    """When and from where a write happened; ordered for last-write-wins."""

    at: datetime
    device: str = ""  # "" for writes that did not come from a device (REST, admin)


@dataclass(frozen=True)
class FieldStamp:
    version: int
    stamp: Stamp
    # The write only agreed with a value another device had written since the writer's
    # base: it still counts as that device's write, also against the writer's next edit.
    agreed: bool = False

    def to_json(self) -> dict[str, Any]:
        raw = {"v": self.version, "t": self.stamp.at.isoformat(), "d": self.stamp.device}
        return raw | {"a": True} if self.agreed else raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FieldStamp:
        at = Stamp(datetime.fromisoformat(raw["t"]), raw.get("d") or "")
        return cls(int(raw["v"]), at, bool(raw.get("a")))


def read_clock(raw: Mapping[str, Any] | None) -> dict[str, FieldStamp]:
    return {name: FieldStamp.from_json(value) for name, value in (raw or {}).items()}


def stamped(
    raw: Mapping[str, Any] | None, fields: Iterable[str], version: int, stamp: Stamp
) -> dict[str, Any]:
    """A new clock (JSON form) with `fields` written at `version` by `stamp`."""
    clock = dict(raw or {})
    entry = FieldStamp(version, stamp).to_json()
    for name in fields:
        clock[name] = entry
    return clock


def marked_agreed(raw: Mapping[str, Any] | None, fields: Iterable[str]) -> dict[str, Any]:
    """The clock (JSON form) with the entries of `fields` marked as agreements."""
    clock = dict(raw or {})
    for name in fields:
        clock[name] = {**clock[name], "a": True}
    return clock


@dataclass(frozen=True)
class Merge:
    """Which of the client's fields to write, and whether there was a conflict."""

    apply: dict[str, Any]
    resolution: Resolution | None  # None: no conflict
    server_kept: tuple[str, ...] = ()  # fields both changed where the server's write won
    client_won: tuple[str, ...] = ()  # fields both changed where the client's write won
    agreed: tuple[str, ...] = ()  # applied values it held from another device's unseen write

    @property
    def conflicted(self) -> bool:
        return self.resolution is not None


def merge(
    *,
    current_version: int,
    current: Mapping[str, Any],
    clock: Mapping[str, FieldStamp],
    base_version: int | None,
    changes: Mapping[str, Any],
    stamp: Stamp,
) -> Merge:
    """Resolve a client's `changes` (field → value, `deleted` included) against the record.

    `current` holds the record's values in the same form as `changes`. The fields "changed
    on the server" are those written after `base_version` by anyone but this device (the
    device's own earlier mutations are part of what it edited on top of). `base_version`
    None means a create of an id the server already holds: every field counts.

    No conflict when the server changed nothing since the base, or only wrote the values
    the client also writes. Otherwise: fields only the client changed apply (`merged`), and
    fields both changed go to the later stamp (`client_won` / `server_won`).

    `apply` may hold values the record already has: the caller writes them anyway, with
    `stamp`, as a new version. A write that changes no value is still a write: were it to
    leave no stamp, an older edit syncing after it would win although it loses when it
    syncs first. Those the record holds from another device's write the client had not
    seen are `agreed`: their stamps are marked (`marked_agreed`), so that write still
    meets the client's next edit as a conflict, as it does when the client syncs first
    (docs/adr/0019-a-write-that-changes-nothing-still-counts.md).
    """
    base = base_version or 0
    server_changed = {
        name
        for name, fs in clock.items()
        if fs.version > base and (fs.agreed or fs.stamp.device != stamp.device or not stamp.device)
    }
    # A value the record already holds from a later write this device had not seen is not
    # written again: restamping it older would hide that write from the device's next edit.
    writes = {
        name: value
        for name, value in changes.items()
        if name not in clock
        or current.get(name) != value
        or clock[name].version <= base
        or stamp > clock[name].stamp
    }
    if base_version == current_version or not server_changed:
        return Merge(apply=writes, resolution=None)
    apply: dict[str, Any] = {}
    server_kept: list[str] = []
    client_won: list[str] = []
    agreed: list[str] = []
    for name, value in writes.items():
        if name not in server_changed:
            apply[name] = value
        elif current.get(name) == value:
            apply[name] = value
            agreed.append(name)
        elif stamp >= clock[name].stamp:  # equal: this device's own agreement, made before
            apply[name] = value
            client_won.append(name)
        else:
            server_kept.append(name)
    if not server_kept and not client_won:
        if not server_changed - set(changes):  # the server only agreed with us
            return Merge(apply=apply, resolution=None, agreed=tuple(agreed))
        resolution = Resolution.MERGED
    elif not server_kept:
        resolution = Resolution.CLIENT_WON
    elif not client_won:
        resolution = Resolution.SERVER_WON
    else:
        resolution = Resolution.MERGED
    return Merge(apply, resolution, tuple(server_kept), tuple(client_won), tuple(agreed))


# --- the device's side of exactly-once ---------------------------------------------------


@dataclass(eq=False)
class SyncDevice:
    """One offline client. It belongs to the user who first synced it."""

    device_id: str
    user_id: UUID
    lab_id: UUID
    created_at: datetime
    last_mutation_id: int = 0
    last_sync_at: datetime | None = None
    status: DeviceStatus = DeviceStatus.OK
    last_error: str | None = None


@dataclass(eq=False)
class SyncConflict:
    """A losing (or merged) edit, kept whole until a person has looked at it."""

    id: UUID
    lab_id: UUID
    entity: str
    record_id: UUID
    device_id: str
    user_id: UUID | None
    mutation_id: int
    resolution: Resolution
    server_data: dict[str, Any] | None  # the record as the server had it (None: absent)
    client_data: dict[str, Any]  # op, data, changed_fields, base_version, both times
    version: int  # the record's version after the automatic outcome
    created_at: datetime
    resolved: bool = False
    resolved_by: UUID | None = None
    resolved_at: datetime | None = None
    manual_resolution: ManualResolution | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # which fields went which way


@dataclass(frozen=True, order=True)
class FeedPosition:
    """A point in the change feed; opaque to clients (see the cursor codec)."""

    txid: int
    seq: int


ORIGIN = FeedPosition(0, 0)
