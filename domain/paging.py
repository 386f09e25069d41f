"""Pagination and sorting, as every list endpoint understands them."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Large lists count exactly up to here; beyond it `total` is the database's estimate
# (`total_exact` false), so listing 100,000 samples never means counting them all.
EXACT_TOTAL_LIMIT = 10_000


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_page(cls, page: int, limit: int) -> PageRequest:
        return cls(limit=limit, offset=(page - 1) * limit)

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    request: PageRequest
    total_exact: bool = True
    more: bool | None = None  # known directly when `total` is only an estimate

    @property
    def total_pages(self) -> int:
        return ceil(self.total / self.request.limit) if self.total else 0

    @property
    def has_more(self) -> bool:
        if self.more is not None:
            return self.more
        return self.request.offset + len(self.items) < self.total
