"""Housekeeping: what may be deleted once it can no longer matter, and the port that does it.

Nothing here ever touches the audit trail: audit entries and their hash chain are kept
forever (they also hold the full history of every purged record).

Each `Housekeeping` method deletes at most `limit` rows in one short transaction of its
own and returns how many it deleted; rows another purge is deleting at the same moment
are skipped, not waited for, so any number of purges may run at once and again.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


class Housekeeping(abc.ABC):
    @abc.abstractmethod
    def purge_refresh_tokens(self, now: datetime, limit: int) -> int:
        """Refresh tokens of sessions that have ended (revoked, or expired at `now`).

        A rotated token of a live session is kept: if it ever comes back, reuse detection
        must still find it and revoke the session. Once the session has ended, every one
        of its refresh tokens is refused anyway.
        """

    @abc.abstractmethod
    def purge_reset_tokens(self, now: datetime, limit: int) -> int:
        """Password-reset tokens that were used or have expired."""

    @abc.abstractmethod
    def purge_sessions(self, ended_before: datetime, limit: int) -> int:
        """Sessions revoked, or expired, before `ended_before`, with any tokens left in them.

        The caller passes `now - access-token lifetime`: every access token of such a
        session has expired too, so deleting the row cannot let one back in.
        """

    @abc.abstractmethod
    def purge_rate_limits(self, now: datetime, limit: int) -> int:
        """Rate-limit counters whose window has closed."""

    @abc.abstractmethod
    def tombstone_entities(self) -> Sequence[str]:
        """The syncable entities with tombstones, in purge order (children first)."""

    @abc.abstractmethod
    def purge_tombstones(self, entity: str, deleted_before: datetime, limit: int) -> int:
        """Records of `entity` deleted before `deleted_before`.

        A tombstone is kept while a row of another table still references it (a sample
        keeps its results' tombstones' company until they go) or while an unresolved sync
        conflict is about it (resolving may bring it back).
        """


@dataclass
class PurgeReport:
    refresh_tokens: int = 0
    password_reset_tokens: int = 0
    sessions: int = 0
    rate_limit_hits: int = 0
    tombstones: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return (
            self.refresh_tokens
            + self.password_reset_tokens
            + self.sessions
            + self.rate_limit_hits
            + sum(self.tombstones.values())
        )
