"""`aqualab purge`: delete what can no longer matter, in small batches, never audit entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from domain.housekeeping import Housekeeping, PurgeReport
from domain.ports import Clock

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class PurgeSettings:
    access_ttl: timedelta  # a session row outlives the last access token it issued
    tombstone_retention: timedelta  # as long as sync cursors stay valid (SyncDeps)


@dataclass(frozen=True)
class PurgeDeps:
    store: Housekeeping
    clock: Clock
    settings: PurgeSettings


def _drain(batch: Callable[[int], int], limit: int) -> int:
    """Run `batch` until one deletes fewer than `limit` rows (rows another purge holds are
    skipped, so a short batch also means "the rest is someone else's")."""
    total = 0
    while True:
        deleted = batch(limit)
        total += deleted
        if deleted < limit:
            return total


class Purge:
    """Refresh and reset tokens, ended sessions, closed rate-limit windows, old tombstones.

    Every batch is its own short transaction, so a long purge holds no lock for long and
    an interrupted one loses nothing; running it again (or twice at once) is harmless.
    Order matters: tokens before the sessions they belong to, and tombstones in the
    store's order (results before the samples they belong to).
    """

    def __init__(self, deps: PurgeDeps):
        self._deps = deps

    def __call__(self, batch_size: int = DEFAULT_BATCH_SIZE) -> PurgeReport:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        deps = self._deps
        store = deps.store
        now = deps.clock.now()
        report = PurgeReport()
        report.refresh_tokens = _drain(lambda n: store.purge_refresh_tokens(now, n), batch_size)
        report.password_reset_tokens = _drain(
            lambda n: store.purge_reset_tokens(now, n), batch_size
        )
        ended_before = now - deps.settings.access_ttl
        report.sessions = _drain(lambda n: store.purge_sessions(ended_before, n), batch_size)
        report.rate_limit_hits = _drain(lambda n: store.purge_rate_limits(now, n), batch_size)
        deleted_before = now - deps.settings.tombstone_retention
        for entity in store.tombstone_entities():
            batch = partial(store.purge_tombstones, entity, deleted_before)
            report.tombstones[entity] = _drain(batch, batch_size)
        return report
