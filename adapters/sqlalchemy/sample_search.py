"""`GET /samples?search=…` through the lab's vocabulary of terms (ADR 0016).

A search matches a sample whose id starts with the needle, or whose location or
collector name contains it (case-insensitive). Rather than test every sample's
location and collector name, it first finds the matching *terms* in
`sample_search_terms` (each distinct location and collector name of the lab, kept by
triggers on samples), then takes the live samples whose location or collector *is*
one of those terms: one statement that counts them (capped) and returns one page, from
index-only scans of (lab_id, location | collector_name, collection_date, id).

Same answers as the plain filter (tests/integration/test_sample_search.py compares
them); it applies when the list (one lab's or every lab's, in any sort) is filtered by
the search and perhaps a date range, for needles of 3 characters or more. Otherwise,
or when the needle matches too many terms or samples to be worth it, the repository
runs the plain filter instead.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.records import SAMPLE
from domain.lab_data import Sample
from domain.paging import EXACT_TOTAL_LIMIT, Page
from domain.ports import SampleQuery

# A needle found in more terms than this (a letter or two) is left to the plain filter:
# past that, looking each term up costs more than testing every sample.
MAX_TERMS = 1_000
_HANDLED_FILTERS = frozenset({"f_lab_id", "f_date_from", "f_date_to", "f_contains", "f_id_prefix"})
# Only these characters can begin a UUID's text form.
_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")

_S = tables.samples.c
_T = tables.sample_search_terms.c

# The lab as text: it only travels back to PostgreSQL, joined with the others (a UUID
# object made, then printed again, cost ~0.1 ms for a search matching 70 places).
_TERMS_COLUMNS = (sa.cast(_T.lab_id, sa.Text), _T.field, _T.term)
_TERMS_LIKE = _T.term.ilike(sa.bindparam("f_contains"), escape="\\")
# Prepared, and planned once: every needle that reaches this lookup has a trigram
# (MIN_NEEDLE), and the generic plan takes the trigram index because the LIMIT is
# written out (a bound LIMIT is assumed small, which made a scan of the whole
# vocabulary look cheaper). Planning it for each value cost ~0.1 ms of PostgreSQL.
_TERMS_LIMIT: sa.ColumnClause[int] = sa.literal_column(str(MAX_TERMS + 1))
_MATCHING_TERMS = {
    True: DriverQuery(
        sa.select(*_TERMS_COLUMNS)
        .where(_T.lab_id == sa.bindparam("f_lab_id"), _TERMS_LIKE)
        .limit(_TERMS_LIMIT)
    ),
    False: DriverQuery(sa.select(*_TERMS_COLUMNS).where(_TERMS_LIKE).limit(_TERMS_LIMIT)),
}


# Shorter needles have no trigram to look terms up by, and match most of them anyway.
MIN_NEEDLE = 3


def applies(query: SampleQuery, values: dict[str, Any]) -> bool:
    return (
        "f_contains" in values
        and len((query.search or "").strip()) >= MIN_NEEDLE
        and query.sort.field in SAMPLE.names
        and _HANDLED_FILTERS.issuperset(values)
    )


def search(conn: sa.Connection, query: SampleQuery, values: dict[str, Any]) -> Page[Sample] | None:
    """One page of a search, or None when the plain filter should answer it."""
    terms = _MATCHING_TERMS["f_lab_id" in values].rows(conn, values)
    if len(terms) > MAX_TERMS:
        return None
    locations = [(lab, term) for lab, field, term in terms if field == "location"]
    collectors = [(lab, term) for lab, field, term in terms if field == "collector_name"]
    needle = query.search.strip().lower() if query.search else ""
    branches = tuple(
        name
        for name, present in (
            ("location", bool(locations)),
            ("collector_name", bool(collectors)),
            ("id", _ID_PREFIX.fullmatch(needle) is not None),
        )
        if present
    )
    if not branches:
        return Page(items=[], total=0, request=query.page)
    statement = _statement(
        branches, frozenset(values), field=query.sort.field, descending=query.sort.descending
    )
    try:
        params = _params(values, query, locations, collectors)
    except _Unsplittable:
        return None
    rows = statement.rows(conn, params)
    total = rows[0][0]
    if total > EXACT_TOTAL_LIMIT:
        return None  # the capped set is not the newest matches: page through the filter
    decode, build = SAMPLE.decode, SAMPLE.build
    items = [build(decode(row[1:])) for row in rows if row[1] is not None]
    return Page(items=items, total=total, request=query.page)


# The terms travel as one text value, split by PostgreSQL: psycopg quotes each element
# of an array parameter in Python (two regex passes per term: ~0.5 ms for a search that
# matches 70 places). The separator is a control character no place name holds; a term
# that does hold it leaves the search to the plain filter.
SEPARATOR = "\x1f"


class _Unsplittable(Exception):
    pass


def _joined(values: Any) -> str:
    items = list(values)
    if any(SEPARATOR in item for item in items):
        raise _Unsplittable
    return SEPARATOR.join(items)


def _split(name: str) -> Any:
    return sa.func.string_to_array(sa.bindparam(name, type_=sa.Text), sa.literal(SEPARATOR))


def _params(
    values: dict[str, Any],
    query: SampleQuery,
    locations: list[tuple[str, str]],
    collectors: list[tuple[str, str]],
) -> dict[str, Any]:
    return dict(
        values,
        s_location_labs=_joined(lab for lab, _ in locations),
        s_locations=_joined(term for _, term in locations),
        s_collector_labs=_joined(lab for lab, _ in collectors),
        s_collectors=_joined(term for _, term in collectors),
        p_limit=query.page.limit,
        p_offset=query.page.offset,
    )


_statements: dict[tuple[Any, ...], DriverQuery] = {}


def _statement(
    branches: tuple[str, ...], filters: frozenset[str], *, field: str, descending: bool
) -> DriverQuery:
    key = (branches, filters & {"f_lab_id", "f_date_from", "f_date_to"}, field, descending)
    found = _statements.get(key)
    if found is None:  # at most 7 x 8 x 8 x 2 shapes
        # Place and collector matches join the terms (one value, split by PostgreSQL) to
        # a covering index: the same plan whatever the values, so it is prepared and
        # planned once (planning cost ~0.3 ms, a quarter of the search). An id prefix is
        # a LIKE whose index range only a plan made for the value can use.
        found = _statements[key] = DriverQuery(_build(*key), plan_each_run="id" in branches)
    return found


def _build(
    branches: tuple[str, ...], filters: frozenset[str], field: str, descending: bool
) -> sa.Select[Any]:
    # Each match carries its sort value, so the page is sorted from the matches and only
    # its own rows are read. By collection date (or by place, for place matches) the
    # value is in the index; another order reads it from each match's row (reading every
    # match's whole row by primary key to sort them cost ~4 times the buffers: 10 ms for
    # 1,500 matches, 170 ms for 10,000).
    keys = [_S.id, _S[field]]

    def matches_of(branch: str) -> sa.Select[Any]:
        conditions: list[Any] = [_S.deleted_at.is_(None)]
        if "f_lab_id" in filters:
            conditions.append(_S.lab_id == sa.bindparam("f_lab_id"))
        if "f_date_from" in filters:
            conditions.append(_S.collection_date >= sa.bindparam("f_date_from"))
        if "f_date_to" in filters:
            conditions.append(_S.collection_date <= sa.bindparam("f_date_to"))
        if branch == "id":
            prefix: Any = sa.bindparam("f_id_prefix")
            conditions.append(sa.cast(_S.id, sa.Text).like(prefix, escape="\\"))
            return sa.select(*keys).where(*conditions)
        # Each matching (lab, term) pair, looked up in the (lab_id, term, date, id) index.
        names = ("s_location_labs", "s_locations")
        if branch == "collector_name":
            names = ("s_collector_labs", "s_collectors")
        pairs = (
            sa.func.unnest(
                sa.cast(_split(names[0]), ARRAY(sa.Uuid)),
                _split(names[1]),
            )
            .table_valued("lab_id", "term")
            .render_derived(name=f"{branch}_terms")
        )
        column = _S.location if branch == "location" else _S.collector_name
        return (
            sa.select(*keys)
            .select_from(pairs)
            .join(tables.samples, sa.and_(_S.lab_id == pairs.c.lab_id, column == pairs.c.term))
            .where(*conditions)
        )

    selects = [matches_of(branch) for branch in branches]
    # One sample can match twice (its place and its collector): UNION counts it once.
    found: Any = sa.union(*selects) if len(selects) > 1 else selects[0]
    matches = found.limit(EXACT_TOTAL_LIMIT + 1).cte("matches")
    counted = sa.select(sa.func.count().label("total")).select_from(matches).cte("counted")
    samples = tables.samples
    by_key = [matches.c[field], matches.c.id]
    ids = (
        sa.select(*by_key)
        .order_by(*(c.desc() if descending else c.asc() for c in by_key))
        .limit(sa.bindparam("p_limit", type_=sa.Integer))
        .offset(sa.bindparam("p_offset", type_=sa.BigInteger))
        .subquery("page")
    )
    page = sa.select(samples).join(ids, samples.c.id == ids.c.id).subquery("rows")
    in_order = [page.c[field], page.c.id]
    # Outer join from the count: an empty page still says how many matched.
    return (
        sa.select(counted.c.total, *(page.c[name] for name in SAMPLE.names))
        .select_from(counted.outerjoin(page, sa.true()))
        .order_by(*(c.desc() if descending else c.asc() for c in in_order))
    )
