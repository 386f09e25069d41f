"""Id generation."""

from __future__ import annotations

import uuid


class UuidGenerator:
    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()
