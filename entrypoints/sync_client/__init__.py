"""AquaLab reference sync client: an offline device that syncs through `POST /api/v1/sync`.

Standard library only, and independent of the server's code, so that integrators can read
it as the example of the protocol (SPEC section 6). Three parts:

- `LocalStore` (store.py): the device's SQLite file. Local edits apply at once and are
  queued in an *outbox* as mutations numbered 1, 2, 3 ... for this device.
- `SyncClient` (client.py): the round-trip loop, retries and error handling.
- `Transport` / `HttpTransport` (transport.py): JSON over HTTP, injectable for tests.

The protocol in five steps
--------------------------
1. Edit offline. `store.create/update/delete` change the local record and append a
   mutation: `{"mutation_id", "entity", "op": "upsert"|"delete", "id", "base_version"
   (the version the user edited; null for a create), "modified_at", "data" (the fields
   set), "changed_fields"}`.
2. Push and pull in one request. `POST /api/v1/sync {"device_id", "cursor", "pull_limit",
   "mutations": [<= 1000 oldest pending]}`. The server applies the mutations in order, in one
   transaction, skipping ids it has already seen (`duplicate`) and stopping at a gap, then
   returns a page of the lab's changes newer than `cursor`.
3. Acknowledge. Every outbox mutation up to the response's `last_mutation_id` is done,
   whatever its status (`applied`, `duplicate`, `conflict`, `rejected`); each result's
   `version` becomes the record's base version for the next edit. Conflicts and
   rejections are kept in the store for the user to see.
4. Apply the pull. `changes` (oldest first) replace local records (`upsert` carries the
   whole record, `delete` is a tombstone), except records that still have unsent edits:
   the server resolves those when they arrive. Then store the new `cursor`. Steps 3 and 4
   happen in one SQLite transaction. With `reset_required`, forget the synced records
   (keep the unsent edits) and pull again from `cursor: null`.
5. Repeat while the outbox is not empty or `has_more` is true.

If the connection drops, send the same request again: mutations the server already
committed come back as `duplicate`, so nothing is lost or applied twice.

    store = LocalStore("var/tablet-7.sqlite3", device_id="tablet-7")
    sample_id = store.create("sample", {"type": "drinking", "location": "Well 3",
                                        "collection_date": "2025-01-18T10:30:00Z",
                                        "collector_name": "Ana"})
    client = SyncClient("http://127.0.0.1:8000", store, credentials=("ana@lab.ma", "…"))
    print(client.sync())            # SyncSummary(pushed=1, applied=1, pulled=…, …)
    print(store.content_hash("sample"))
"""

from entrypoints.sync_client.client import (
    AuthenticationError,
    ForbiddenError,
    RetriesExhausted,
    SyncClient,
    SyncError,
    SyncGapError,
    SyncHTTPError,
    SyncStateError,
    SyncSummary,
)
from entrypoints.sync_client.store import (
    WRITABLE_FIELDS,
    LocalStore,
    Mutation,
    ResponseOutcome,
    canonical_record,
    content_hash,
)
from entrypoints.sync_client.transport import HttpTransport, Response, Transport, TransportError

__all__ = [
    "WRITABLE_FIELDS",
    "AuthenticationError",
    "ForbiddenError",
    "HttpTransport",
    "LocalStore",
    "Mutation",
    "Response",
    "ResponseOutcome",
    "RetriesExhausted",
    "SyncClient",
    "SyncError",
    "SyncGapError",
    "SyncHTTPError",
    "SyncStateError",
    "SyncSummary",
    "Transport",
    "TransportError",
    "canonical_record",
    "content_hash",
]
