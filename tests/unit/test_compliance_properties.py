"""Properties of the compliance engine that the tables of test_compliance.py cannot sweep.

Hypothesis draws limits (guideline/regulation, every basis, with or without max/VMR) and
readings; it checks that the judgement is monotonic in the reading for `=`, `<` (detection
limit) and `>`, that a `<` is never judged worse than the same number read exactly, that
the order of limits or results changes nothing, that a reading typed in mg/L or µg/L is
judged the same, and that judging is deterministic. test_compliance.py already holds the
`=`-monotonicity, min/max, presence/absence and `worst` order properties.
"""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from domain.compliance import (
    Basis,
    ComplianceStatus,
    Limit,
    ParameterKind,
    Qualifier,
    Reading,
    StandardKind,
    evaluate,
    evaluate_limit,
    result_status,
    sample_status,
)
from domain.units import to_canonical
from tests.unit.test_compliance import (
    NUMERIC,
    SEVERITY,
    limits_with_both_bounds,
    max_only_limits,
    readings,
    values,
)

LT, GT = Qualifier.BELOW_DETECTION, Qualifier.ABOVE_RANGE
UG_L = "\u00b5g/L"
margins = st.floats(min_value=0.01, max_value=1)
any_limits = max_only_limits() | limits_with_both_bounds()


def severity(reading: Reading, limit: Limit, margin: float = 0.8) -> int:
    return SEVERITY[evaluate_limit(reading, limit, NUMERIC, margin=margin)]


# --- raising a reading never improves its outcome against a max-only limit ---------------


@given(max_only_limits(), values, values, values, margins)
def test_a_higher_detection_limit_never_improves_a_below_detection_reading(
    limit: Limit, value: float, dl_a: float, dl_b: float, margin: float
) -> None:
    low, high = sorted((dl_a, dl_b))
    assert severity(Reading(value, LT, high), limit, margin) >= severity(
        Reading(value, LT, low), limit, margin
    )


@given(max_only_limits(), values, values, margins)
def test_a_higher_lower_bound_never_improves_an_above_range_reading(
    limit: Limit, a: float, b: float, margin: float
) -> None:
    low, high = sorted((a, b))
    assert severity(Reading(high, GT), limit, margin) >= severity(Reading(low, GT), limit, margin)


@given(max_only_limits(), values, margins)
def test_below_detection_is_never_judged_worse_than_the_same_number_read_exactly(
    limit: Limit, dl: float, margin: float
) -> None:
    """The true value lies under the detection limit: never worse than reading the
    detection limit itself."""
    assert severity(Reading(0, LT, dl), limit, margin) <= severity(Reading(dl), limit, margin)


@given(max_only_limits(), values, margins)
def test_above_range_is_never_judged_better_than_the_same_number_read_exactly(
    limit: Limit, value: float, margin: float
) -> None:
    """The true value lies above `value`: never better than reading `value` itself."""
    assert severity(Reading(value, GT), limit, margin) >= severity(Reading(value), limit, margin)


# --- order and determinism ------------------------------------------------------------------


# One limit per standard, as the reference data holds them.
limit_sets = st.lists(any_limits, max_size=4, unique_by=lambda limit: limit.standard)


@given(readings, limit_sets, st.randoms(use_true_random=False))
def test_the_order_of_the_limits_changes_nothing(
    reading: Reading, limits: list[Limit], rnd: random.Random
) -> None:
    shuffled = list(limits)
    rnd.shuffle(shuffled)
    assert evaluate(reading, shuffled, NUMERIC) == evaluate(reading, limits, NUMERIC)


@given(
    st.lists(st.tuples(readings, st.lists(any_limits, max_size=3)), max_size=6),
    st.randoms(use_true_random=False),
)
def test_a_sample_is_the_worst_of_its_results_in_any_order(
    results: list[tuple[Reading, list[Limit]]], rnd: random.Random
) -> None:
    statuses = [result_status(evaluate(r, limits, NUMERIC)) for r, limits in results]
    shuffled = list(statuses)
    rnd.shuffle(shuffled)
    assert sample_status(shuffled) is sample_status(statuses)
    if statuses:
        assert SEVERITY[sample_status(statuses)] == max(SEVERITY[s] for s in statuses)
    else:
        assert sample_status(statuses) is ComplianceStatus.PENDING


@given(readings, st.lists(any_limits, max_size=4), st.sampled_from(list(ParameterKind)), margins)
def test_judging_is_deterministic_and_leaves_its_inputs_alone(
    reading: Reading, limits: list[Limit], kind: ParameterKind, margin: float
) -> None:
    before = list(limits)
    first = evaluate(reading, limits, kind, margin=margin)
    assert evaluate(reading, limits, kind, margin=margin) == first
    assert limits == before
    assert [e.to_dict() for e in first] == [
        e.to_dict() for e in evaluate(reading, before, kind, margin=margin)
    ]


# --- a reading typed in mg/L or µg/L is judged the same ---------------------------------------

# Values as a person types them: up to 4 decimals in µg/L, i.e. up to 7 in mg/L.
typed_ug = st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False)
limit_ug = st.decimals(min_value=0, max_value=1_000, places=2, allow_nan=False)


def microgram_limit(kind: StandardKind, basis: Basis, high: Decimal, vmr: Decimal | None) -> Limit:
    return Limit(
        "S", kind, "arsenic", None, float(high), None if vmr is None else float(vmr), basis
    )


@given(
    typed_ug,
    st.none() | typed_ug,
    st.sampled_from(list(Qualifier)),
    st.sampled_from(list(StandardKind)),
    st.sampled_from(list(Basis)),
    limit_ug,
    st.none() | limit_ug,
)
@example(
    Decimal("4.1"),
    None,
    Qualifier.EQUAL,
    StandardKind.GUIDELINE,
    Basis.HEALTH,
    Decimal("4.1"),
    None,
)
def test_a_reading_in_mg_per_litre_is_judged_like_the_same_one_in_micrograms(
    ug: Decimal,
    dl_ug: Decimal | None,
    qualifier: Qualifier,
    kind: StandardKind,
    basis: Basis,
    high: Decimal,
    vmr: Decimal | None,
) -> None:
    limit = microgram_limit(kind, basis, high, vmr)
    mg, dl_mg = ug / 1000, None if dl_ug is None else dl_ug / 1000
    converted = to_canonical(float(mg), None if dl_mg is None else float(dl_mg), "mg/L", UG_L)
    assert converted is not None
    typed = Reading(float(ug), qualifier, None if dl_ug is None else float(dl_ug))
    as_converted = Reading(converted.value, qualifier, converted.detection_limit)
    assert evaluate_limit(as_converted, limit, NUMERIC) is evaluate_limit(typed, limit, NUMERIC)


@given(typed_ug, st.sampled_from(list(Basis)), limit_ug)
@example(Decimal("80"), Basis.HEALTH, Decimal("0.08"))
def test_a_reading_in_micrograms_is_judged_like_the_same_one_in_mg_per_litre(
    ug: Decimal, basis: Basis, high_mg: Decimal
) -> None:
    """The other way: a parameter measured in mg/L, a reading typed in µg/L."""
    limit = Limit("S", StandardKind.REGULATION, "manganese", None, float(high_mg), None, basis)
    converted = to_canonical(float(ug), None, "ug/L", "mg/L")
    assert converted is not None
    typed = Reading(float(ug / 1000))
    assert evaluate_limit(Reading(converted.value), limit, NUMERIC) is evaluate_limit(
        typed, limit, NUMERIC
    )


def test_regression_a_reading_at_the_limit_in_mg_per_litre_is_not_above_it() -> None:
    """Found by the property above (fixed in domain/units.py): 0.0041 mg/L became
    4.1000000000000005 µg/L and failed a 4.1 µg/L health limit it only reaches."""
    converted = to_canonical(0.0041, 0.0049, "mg/L", UG_L)
    assert converted is not None
    assert (converted.value, converted.detection_limit) == (4.1, 4.9)
    limit = microgram_limit(StandardKind.GUIDELINE, Basis.HEALTH, Decimal("4.1"), None)
    assert evaluate_limit(Reading(converted.value), limit, NUMERIC) is ComplianceStatus.WARNING
