"""Helpers shared by resources: the caller, paging, sorting, ETags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import falcon

from application.context import Caller
from domain.paging import PageRequest, Sort
from entrypoints.http.errors import validation_error
from entrypoints.http.middleware import request_meta
from entrypoints.http.schemas import ListMeta


def caller(req: falcon.Request) -> Caller:
    return Caller(principal=req.context.principal, meta=request_meta(req))


def page_request(query: Any) -> PageRequest:
    if query.offset is not None:
        return PageRequest(limit=query.limit, offset=query.offset)
    return PageRequest.from_page(query.page, query.limit)


def sort_spec(query: Any, allowed: Sequence[str], default: Sort) -> Sort:
    if not query.sort:
        if query.order:
            return Sort(default.field, descending=query.order == "desc")
        return default
    name = query.sort.strip()
    descending = name.startswith("-")
    name = name.lstrip("-+")
    if name not in allowed:
        raise validation_error({"sort": [f"Sort by one of: {', '.join(allowed)}"]})
    if query.order:
        descending = query.order == "desc"
    return Sort(name, descending=descending)


def list_payload(page_view: Any) -> dict[str, Any]:
    return {
        "data": page_view.items,
        "meta": ListMeta(
            total=page_view.total,
            page=page_view.page,
            limit=page_view.limit,
            total_pages=page_view.total_pages,
            has_more=page_view.has_more,
            total_exact=page_view.total_exact,
        ),
    }


def if_match(req: falcon.Request) -> int | None:
    """The version a client expects, from `If-Match: "3"`; `*` or absent means any."""
    header = req.get_header("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    try:
        return int(tag)
    except ValueError:
        return -1  # never matches, so the write is refused with 412


def set_etag(resp: falcon.Response, version: int) -> None:
    resp.set_header("ETag", f'"{version}"')
