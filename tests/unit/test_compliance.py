"""The compliance engine (SPEC §5, FR-017/FR-025), table-driven.

Every parameter of SPEC §5 is judged against a WHO-GDWQ-2022 (guideline) and/or an
NM-03.7.001-2006 (regulation) limit; each side of every limit, the 80 % health margin,
`<`/`>` qualifiers, presence/absence and the aggregates are covered.

The limits below are engine fixtures: realistic, but the authoritative values (and their
sources) are the ones the migration seeds (adapters/reference_data.py, which these mirror).
What matters here is the *shape* of each limit: guideline vs regulation, basis, min, max,
VMR.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.compliance import (
    DEFAULT_MARGIN,
    Basis,
    ComplianceStatus,
    Evaluation,
    Limit,
    ParameterKind,
    Qualifier,
    Reading,
    StandardKind,
    evaluate,
    evaluate_limit,
    result_status,
    sample_status,
    worst,
)

PASS = ComplianceStatus.PASS
WARNING = ComplianceStatus.WARNING
FAIL = ComplianceStatus.FAIL
PENDING = ComplianceStatus.PENDING
SEVERITY = {PENDING: 0, PASS: 1, WARNING: 2, FAIL: 3}

WHO = "WHO-GDWQ-2022"
NM = "NM-03.7.001-2006"
HEALTH, AESTHETIC, OPERATIONAL = Basis.HEALTH, Basis.AESTHETIC, Basis.OPERATIONAL
NUMERIC, PRESENCE = ParameterKind.NUMERIC, ParameterKind.PRESENCE_ABSENCE
EQ, LT, GT = Qualifier.EQUAL, Qualifier.BELOW_DETECTION, Qualifier.ABOVE_RANGE


def who(parameter: str, max: float | None, basis: Basis, *, min: float | None = None) -> Limit:
    return Limit(WHO, StandardKind.GUIDELINE, parameter, min, max, None, basis)


def nm(
    parameter: str,
    max: float | None,
    basis: Basis,
    *,
    min: float | None = None,
    vmr: float | None = None,
) -> Limit:
    return Limit(NM, StandardKind.REGULATION, parameter, min, max, vmr, basis)


@dataclass(frozen=True)
class Parameter:
    code: str
    unit: str
    kind: ParameterKind
    step: float  # the reporting resolution: "just above/below" is one step away
    limits: tuple[Limit, ...]


PARAMETERS = (
    Parameter(
        "ph",
        "pH",
        NUMERIC,
        0.01,
        (who("ph", 8.5, OPERATIONAL, min=6.5), nm("ph", 8.5, OPERATIONAL, min=6.5)),
    ),
    Parameter(
        "turbidity",
        "NTU",
        NUMERIC,
        0.1,
        (who("turbidity", 5, AESTHETIC), nm("turbidity", 5, AESTHETIC, vmr=1)),
    ),
    Parameter("conductivity", "µS/cm", NUMERIC, 1, (nm("conductivity", 2700, AESTHETIC),)),
    Parameter("temperature", "°C", NUMERIC, 0.1, (nm("temperature", 25, AESTHETIC),)),
    Parameter(
        "nitrate", "mg/L", NUMERIC, 0.1, (who("nitrate", 50, HEALTH), nm("nitrate", 50, HEALTH))
    ),
    Parameter(
        "nitrite", "mg/L", NUMERIC, 0.01, (who("nitrite", 3, HEALTH), nm("nitrite", 0.5, HEALTH))
    ),
    Parameter(
        "ammonium",
        "mg/L",
        NUMERIC,
        0.01,
        (who("ammonium", 1.5, AESTHETIC), nm("ammonium", 0.5, AESTHETIC)),
    ),
    Parameter(
        "chloride",
        "mg/L",
        NUMERIC,
        1,
        (who("chloride", 250, AESTHETIC), nm("chloride", 750, AESTHETIC, vmr=300)),
    ),
    Parameter(
        "sulfate",
        "mg/L",
        NUMERIC,
        1,
        (who("sulfate", 250, AESTHETIC), nm("sulfate", 400, AESTHETIC, vmr=200)),
    ),
    Parameter(
        "fluoride",
        "mg/L",
        NUMERIC,
        0.01,
        (who("fluoride", 1.5, HEALTH), nm("fluoride", 1.5, HEALTH)),
    ),
    Parameter(
        "iron", "mg/L", NUMERIC, 0.01, (who("iron", 0.3, AESTHETIC), nm("iron", 0.3, AESTHETIC))
    ),
    Parameter(
        "manganese",
        "mg/L",
        NUMERIC,
        0.001,
        (who("manganese", 0.08, HEALTH), nm("manganese", 0.5, HEALTH, vmr=0.1)),
    ),
    Parameter(
        "free_chlorine",
        "mg/L",
        NUMERIC,
        0.01,
        (who("free_chlorine", 5, HEALTH), nm("free_chlorine", 1, OPERATIONAL)),
    ),
    Parameter(
        "arsenic", "µg/L", NUMERIC, 0.1, (who("arsenic", 10, HEALTH), nm("arsenic", 10, HEALTH))
    ),
    Parameter("lead", "µg/L", NUMERIC, 0.1, (who("lead", 10, HEALTH), nm("lead", 10, HEALTH))),
    Parameter(
        "cadmium", "µg/L", NUMERIC, 0.1, (who("cadmium", 3, HEALTH), nm("cadmium", 3, HEALTH))
    ),
    Parameter(
        "mercury", "µg/L", NUMERIC, 0.1, (who("mercury", 6, HEALTH), nm("mercury", 1, HEALTH))
    ),
    Parameter(
        "chromium", "µg/L", NUMERIC, 0.1, (who("chromium", 50, HEALTH), nm("chromium", 50, HEALTH))
    ),
    Parameter(
        "e_coli", "CFU/100mL", PRESENCE, 1, (who("e_coli", 0, HEALTH), nm("e_coli", 0, HEALTH))
    ),
    Parameter(
        "total_coliforms",
        "CFU/100mL",
        PRESENCE,
        1,
        (who("total_coliforms", 0, OPERATIONAL), nm("total_coliforms", 0, HEALTH)),
    ),
    Parameter(
        "enterococci",
        "CFU/100mL",
        PRESENCE,
        1,
        (who("enterococci", 0, HEALTH), nm("enterococci", 0, HEALTH)),
    ),
)
# fmt: off
SPEC_PARAMETERS = {
    "ph", "turbidity", "conductivity", "temperature", "nitrate", "nitrite", "ammonium",
    "chloride", "sulfate", "fluoride", "iron", "manganese", "free_chlorine", "arsenic",
    "lead", "cadmium", "mercury", "chromium", "e_coli", "total_coliforms", "enterococci",
}
# fmt: on
NUMERIC_PARAMETERS = [p for p in PARAMETERS if p.kind is NUMERIC]
PRESENCE_PARAMETERS = [p for p in PARAMETERS if p.kind is PRESENCE]


def short(limit: Limit) -> str:
    return "WHO" if limit.standard == WHO else "NM"


def num(x: float) -> float:
    """A value as a person would type it (2.4, not 2.4000000000000004)."""
    return round(x, 9)


def binding(limit: Limit) -> bool:
    return limit.basis is HEALTH or limit.standard_kind is StandardKind.REGULATION


def exceeded(limit: Limit) -> ComplianceStatus:
    """Outside a binding limit fails; outside a WHO aesthetic/operational value warns."""
    return FAIL if binding(limit) else WARNING


def above_vmr(limit: Limit, value: float) -> bool:
    return limit.recommended_max is not None and value > limit.recommended_max


def has_margin(limit: Limit) -> bool:
    return limit.basis is HEALTH and limit.max is not None and limit.max > 0


@dataclass(frozen=True)
class Case:
    id: str
    reading: Reading
    limit: Limit
    kind: ParameterKind
    expected: ComplianceStatus


def case(
    parameter: Parameter, limit: Limit, label: str, reading: Reading, expected: ComplianceStatus
) -> Case:
    shown = f"{reading.qualifier.value}{reading.value:g}"
    if reading.detection_limit is not None:
        shown += f" (DL {reading.detection_limit:g})"
    ascii_unit = parameter.unit.replace("µ", "u").replace(
        "°", "deg"
    )  # pytest escapes non-ASCII ids
    return Case(
        f"{parameter.code}-{short(limit)}: {label} {shown} {ascii_unit} -> {expected.value}",
        reading,
        limit,
        parameter.kind,
        expected,
    )


def max_side_cases(p: Parameter, lim: Limit) -> list[Case]:
    """Each side of the max, the 80 % margin and the VMR for one numeric limit."""
    assert lim.max is not None
    hi, step = lim.max, p.step
    out: list[Case] = []

    def inside(value: float) -> ComplianceStatus:
        """Expected for a value within min..max, written from the rules, not the code."""
        if above_vmr(lim, value):
            return WARNING
        if has_margin(lim) and value >= DEFAULT_MARGIN * hi - 1e-12:
            return WARNING
        return PASS

    above, below = num(hi + step), num(hi - step)
    out.append(case(p, lim, "just above max", Reading(above), exceeded(lim)))
    out.append(case(p, lim, "far above max", Reading(num(hi * 3)), exceeded(lim)))
    out.append(case(p, lim, "exactly at max", Reading(hi), inside(hi)))
    out.append(case(p, lim, "just below max", Reading(below), inside(below)))

    eighty = num(DEFAULT_MARGIN * hi)
    under_eighty = num(eighty - step)
    between = num((eighty + hi) / 2)
    if has_margin(lim):
        out.append(case(p, lim, "between 80% and max", Reading(between), WARNING))
        out.append(case(p, lim, "exactly 80% of max", Reading(eighty), WARNING))
        out.append(
            case(
                p,
                lim,
                "just below 80%",
                Reading(under_eighty),
                WARNING if above_vmr(lim, under_eighty) else PASS,
            )
        )
    else:  # aesthetic/operational: no early warning
        out.append(case(p, lim, "80% of a non-health max", Reading(eighty), inside(eighty)))
        out.append(case(p, lim, "between 80% and max", Reading(between), inside(between)))
    low_value = num(lim.min + step) if lim.min is not None else num(hi / 10)
    out.append(case(p, lim, "well inside", Reading(low_value), PASS))

    if lim.recommended_max is not None:
        vmr = lim.recommended_max
        out.append(case(p, lim, "just above VMR, below VMA", Reading(num(vmr + step)), WARNING))
        out.append(case(p, lim, "exactly at VMR", Reading(vmr), inside(vmr)))
        out.append(
            case(p, lim, "just below VMR", Reading(num(vmr - step)), inside(num(vmr - step)))
        )
        out.append(
            case(p, lim, "< DL above VMR, below VMA", Reading(0, LT, num(vmr + step)), WARNING)
        )

    # `<`: the true value is below the detection limit (or below `value` without one).
    out.append(case(p, lim, "< DL above max", Reading(0, LT, above), WARNING))
    out.append(case(p, lim, "< value above max, no DL", Reading(above, LT), WARNING))
    if lim.min is None:
        dl = lim.recommended_max if lim.recommended_max is not None else below
        out.append(case(p, lim, "< DL below max", Reading(0, LT, dl), PASS))
        out.append(
            case(
                p,
                lim,
                "< DL exactly at max",
                Reading(0, LT, hi),
                WARNING if above_vmr(lim, hi) else PASS,
            )
        )
        out.append(case(p, lim, "< value below max, no DL", Reading(dl, LT), PASS))
        out.append(case(p, lim, "< DL 0", Reading(0, LT, 0), PASS))

    # `>`: the true value is above `value`.
    out.append(case(p, lim, "> at max", Reading(hi, GT), exceeded(lim)))
    out.append(case(p, lim, "> above max", Reading(above, GT), exceeded(lim)))
    out.append(case(p, lim, "> below max (cannot show compliance)", Reading(below, GT), WARNING))
    out.append(case(p, lim, "> far below max", Reading(low_value, GT), WARNING))
    return out


def min_side_cases(p: Parameter, lim: Limit) -> list[Case]:
    assert lim.min is not None
    lo, step = lim.min, p.step
    return [
        case(p, lim, "just below min", Reading(num(lo - step)), exceeded(lim)),
        case(p, lim, "far below min", Reading(num(lo / 2)), exceeded(lim)),
        case(p, lim, "exactly at min", Reading(lo), PASS),
        case(p, lim, "just above min", Reading(num(lo + step)), PASS),
        case(p, lim, "< DL exactly at min", Reading(0, LT, lo), exceeded(lim)),
        case(p, lim, "< DL below min", Reading(0, LT, num(lo - step)), exceeded(lim)),
        case(p, lim, "< value below min, no DL", Reading(num(lo - step), LT), exceeded(lim)),
        # the true value may lie below the minimum: compliance cannot be shown
        case(p, lim, "< DL above min", Reading(0, LT, num(lo + step)), WARNING),
        case(p, lim, "> below min", Reading(num(lo - step), GT), WARNING),
    ]


def presence_cases(p: Parameter, lim: Limit) -> list[Case]:
    return [
        case(p, lim, "not detected", Reading(0), PASS),
        case(p, lim, "detected", Reading(1), FAIL),
        case(p, lim, "many colonies", Reading(250), FAIL),
        case(p, lim, "below detection", Reading(1, LT), PASS),
        case(p, lim, "below detection DL 1", Reading(0, LT, 1), PASS),
        case(p, lim, "above range", Reading(200, GT), FAIL),
        case(p, lim, "above zero", Reading(0, GT), FAIL),
    ]


def all_cases() -> list[Case]:
    out: list[Case] = []
    for p in PARAMETERS:
        for lim in p.limits:
            if p.kind is PRESENCE:
                out += presence_cases(p, lim)
                continue
            out += max_side_cases(p, lim)
            if lim.min is not None:
                out += min_side_cases(p, lim)
    return out


CASES = all_cases()


def test_the_table_covers_every_spec_parameter_and_both_standards() -> None:
    assert {p.code for p in PARAMETERS} == SPEC_PARAMETERS
    assert all(lim.parameter == p.code for p in PARAMETERS for lim in p.limits)
    assert {lim.standard for p in PARAMETERS for lim in p.limits} == {WHO, NM}
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_every_parameter_each_side_of_every_limit(c: Case) -> None:
    assert evaluate_limit(c.reading, c.limit, c.kind) is c.expected


# --- Hand-written realistic readings: the table above, spelled out ------------------

NITRATE_WHO, NITRATE_NM = who("nitrate", 50, HEALTH), nm("nitrate", 50, HEALTH)
PH_WHO, PH_NM = who("ph", 8.5, OPERATIONAL, min=6.5), nm("ph", 8.5, OPERATIONAL, min=6.5)
CHLORIDE_WHO = who("chloride", 250, AESTHETIC)
CHLORIDE_NM = nm("chloride", 750, AESTHETIC, vmr=300)
ARSENIC = who("arsenic", 10, HEALTH)
NITRITE = who("nitrite", 3, HEALTH)
FLUORIDE = who("fluoride", 1.5, HEALTH)
MANGANESE = who("manganese", 0.08, HEALTH)
MERCURY = who("mercury", 6, HEALTH)
IRON_WHO, IRON_NM = who("iron", 0.3, AESTHETIC), nm("iron", 0.3, AESTHETIC)
TURBIDITY_NM = nm("turbidity", 5, AESTHETIC, vmr=1)
E_COLI = who("e_coli", 0, HEALTH)

SPELLED_OUT = [
    # nitrate, health in both standards
    ("nitrate 12 mg/L", Reading(12), NITRATE_WHO, NUMERIC, PASS),
    ("nitrate 39.9 just under 80%", Reading(39.9), NITRATE_WHO, NUMERIC, PASS),
    ("nitrate 40 exactly 80%", Reading(40), NITRATE_WHO, NUMERIC, WARNING),
    ("nitrate 45 between 80% and max", Reading(45), NITRATE_NM, NUMERIC, WARNING),
    ("nitrate 50 at the max", Reading(50), NITRATE_WHO, NUMERIC, WARNING),
    ("nitrate 50.1 WHO health exceeded", Reading(50.1), NITRATE_WHO, NUMERIC, FAIL),
    ("nitrate 50.1 NM VMA exceeded", Reading(50.1), NITRATE_NM, NUMERIC, FAIL),
    ("nitrate <60 unprovable", Reading(0, LT, 60), NITRATE_WHO, NUMERIC, WARNING),
    ("nitrate <1 below DL", Reading(0, LT, 1), NITRATE_WHO, NUMERIC, PASS),
    ("nitrate <45 (DL past 80%, under max)", Reading(0, LT, 45), NITRATE_WHO, NUMERIC, PASS),
    ("nitrate >100 over range", Reading(100, GT), NITRATE_WHO, NUMERIC, FAIL),
    ("nitrate >20 range stops below max", Reading(20, GT), NITRATE_WHO, NUMERIC, WARNING),
    # float-exact 80 %: 0.8 * 3 == 2.4000000000000004 must not turn 2.4 into a pass
    ("nitrite 2.4 exactly 80%", Reading(2.4), NITRITE, NUMERIC, WARNING),
    ("nitrite 2.39 under 80%", Reading(2.39), NITRITE, NUMERIC, PASS),
    ("fluoride 1.2 exactly 80%", Reading(1.2), FLUORIDE, NUMERIC, WARNING),
    ("mercury 4.8 exactly 80%", Reading(4.8), MERCURY, NUMERIC, WARNING),
    ("manganese 0.064 exactly 80%", Reading(0.064), MANGANESE, NUMERIC, WARNING),
    ("manganese 0.063 under 80%", Reading(0.063), MANGANESE, NUMERIC, PASS),
    ("arsenic 8 µg/L exactly 80%", Reading(8), ARSENIC, NUMERIC, WARNING),
    ("arsenic 10.1 µg/L", Reading(10.1), ARSENIC, NUMERIC, FAIL),
    # pH both sides, both standards
    ("pH 6.4 WHO operational", Reading(6.4), PH_WHO, NUMERIC, WARNING),
    ("pH 6.4 NM VMA", Reading(6.4), PH_NM, NUMERIC, FAIL),
    ("pH 6.5 WHO at min", Reading(6.5), PH_WHO, NUMERIC, PASS),
    ("pH 6.5 NM at min", Reading(6.5), PH_NM, NUMERIC, PASS),
    ("pH 7.2 WHO", Reading(7.2), PH_WHO, NUMERIC, PASS),
    ("pH 8.4 NM (no 80% margin: operational)", Reading(8.4), PH_NM, NUMERIC, PASS),
    ("pH 8.5 WHO at max", Reading(8.5), PH_WHO, NUMERIC, PASS),
    ("pH 8.5 NM at max", Reading(8.5), PH_NM, NUMERIC, PASS),
    ("pH 8.6 WHO operational", Reading(8.6), PH_WHO, NUMERIC, WARNING),
    ("pH 8.6 NM VMA", Reading(8.6), PH_NM, NUMERIC, FAIL),
    ("pH 0 WHO", Reading(0), PH_WHO, NUMERIC, WARNING),
    ("pH 14 NM", Reading(14), PH_NM, NUMERIC, FAIL),
    # chloride: WHO aesthetic value vs NM VMA + VMR
    ("chloride 280 WHO aesthetic exceeded", Reading(280), CHLORIDE_WHO, NUMERIC, WARNING),
    ("chloride 280 NM under VMR", Reading(280), CHLORIDE_NM, NUMERIC, PASS),
    ("chloride 300 NM at VMR", Reading(300), CHLORIDE_NM, NUMERIC, PASS),
    ("chloride 301 NM above VMR", Reading(301), CHLORIDE_NM, NUMERIC, WARNING),
    ("chloride 700 NM above VMR", Reading(700), CHLORIDE_NM, NUMERIC, WARNING),
    ("chloride 750 NM at VMA", Reading(750), CHLORIDE_NM, NUMERIC, WARNING),
    ("chloride 751 NM VMA exceeded", Reading(751), CHLORIDE_NM, NUMERIC, FAIL),
    ("chloride <400 NM DL above VMR", Reading(0, LT, 400), CHLORIDE_NM, NUMERIC, WARNING),
    ("chloride >350 NM above VMR, below VMA", Reading(350, GT), CHLORIDE_NM, NUMERIC, WARNING),
    # aesthetic iron: WHO warns, NM fails (every VMA is binding)
    ("iron 0.31 WHO aesthetic", Reading(0.31), IRON_WHO, NUMERIC, WARNING),
    ("iron 0.31 NM VMA", Reading(0.31), IRON_NM, NUMERIC, FAIL),
    ("iron 0.29 WHO (no margin)", Reading(0.29), IRON_WHO, NUMERIC, PASS),
    ("turbidity 1.5 NM above VMR", Reading(1.5), TURBIDITY_NM, NUMERIC, WARNING),
    ("turbidity 6 NM VMA", Reading(6), TURBIDITY_NM, NUMERIC, FAIL),
    # presence/absence
    ("E. coli 0", Reading(0), E_COLI, PRESENCE, PASS),
    ("E. coli 1", Reading(1), E_COLI, PRESENCE, FAIL),
    ("E. coli <1", Reading(1, LT), E_COLI, PRESENCE, PASS),
    ("E. coli >0", Reading(0, GT), E_COLI, PRESENCE, FAIL),
]


@pytest.mark.parametrize(
    ("reading", "limit", "kind", "expected"),
    [row[1:] for row in SPELLED_OUT],
    ids=[row[0] for row in SPELLED_OUT],
)
def test_realistic_readings(
    reading: Reading, limit: Limit, kind: ParameterKind, expected: ComplianceStatus
) -> None:
    assert evaluate_limit(reading, limit, kind) is expected


# --- Zero limits, margins, limits without a max ------------------------------------

ZERO_HEALTH = who("hypothetical_toxin", 0, HEALTH)


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (Reading(0), PASS),
        (Reading(0.001), FAIL),
        (Reading(0, LT, 0.5), WARNING),
        (Reading(0, GT), FAIL),
    ],
    ids=["0 at a zero limit: no margin warning", "just above 0", "<DL above 0", ">0"],
)
def test_a_numeric_limit_of_zero_has_no_margin_warning(
    reading: Reading, expected: ComplianceStatus
) -> None:
    assert evaluate_limit(reading, ZERO_HEALTH, NUMERIC) is expected


@pytest.mark.parametrize(
    ("margin", "value", "expected"),
    [
        (0.9, 40, PASS),
        (0.9, 44.9, PASS),
        (0.9, 45, WARNING),
        (0.5, 25, WARNING),
        (0.5, 24.9, PASS),
        (1.0, 49.9, PASS),
        (1.0, 50, WARNING),
    ],
    ids=str,
)
def test_the_margin_is_configurable(
    margin: float, value: float, expected: ComplianceStatus
) -> None:
    assert evaluate_limit(Reading(value), NITRATE_WHO, NUMERIC, margin=margin) is expected


def test_the_margin_applies_to_health_limits_of_a_regulation_too() -> None:
    assert evaluate_limit(Reading(40), NITRATE_NM, NUMERIC) is WARNING
    assert evaluate_limit(Reading(40), nm("chloride", 50, AESTHETIC), NUMERIC) is PASS


@pytest.mark.parametrize(
    ("limit", "reading", "expected"),
    [
        (who("x", None, AESTHETIC), Reading(1e9), PASS),
        (nm("x", None, AESTHETIC, vmr=10), Reading(10), PASS),
        (nm("x", None, AESTHETIC, vmr=10), Reading(11), WARNING),
        (nm("x", None, AESTHETIC, vmr=10), Reading(0, LT, 11), WARNING),
        (nm("x", None, AESTHETIC, vmr=10), Reading(10, GT), WARNING),
        (nm("x", None, AESTHETIC, vmr=10), Reading(5, GT), WARNING),
        (nm("x", None, HEALTH, min=0.2), Reading(0.1), FAIL),
        (nm("x", None, HEALTH, min=0.2), Reading(0.2), PASS),
        (nm("x", None, HEALTH, min=0.2), Reading(99), PASS),
        (nm("x", None, HEALTH, min=0.2), Reading(0.5, GT), PASS),
        (nm("x", None, HEALTH, min=0.2), Reading(0.1, GT), WARNING),
    ],
    ids=[
        "no bounds at all",
        "VMR only, at it",
        "VMR only, above it",
        "VMR only, < DL above it",
        "VMR only, > at it",
        "VMR only, > below it (may be above the VMR)",
        "min only, below",
        "min only, at",
        "min only, far above",
        "min only, > above it",
        "min only, > below it (may be under the min)",
    ],
)
def test_limits_without_a_max(limit: Limit, reading: Reading, expected: ComplianceStatus) -> None:
    assert evaluate_limit(reading, limit, NUMERIC) is expected


def test_presence_absence_ignores_the_numeric_bounds() -> None:
    odd = who("e_coli", 100, AESTHETIC)  # a mis-entered limit cannot let a detection pass
    assert evaluate_limit(Reading(1), odd, PRESENCE) is FAIL
    assert evaluate_limit(Reading(0), odd, PRESENCE) is PASS


# --- Aggregates -----------------------------------------------------------------------


def evaluation(outcome: ComplianceStatus, standard: str = WHO) -> Evaluation:
    return Evaluation(standard, None, 50, None, HEALTH, outcome)


def test_evaluate_returns_one_evaluation_per_limit_sorted_by_standard() -> None:
    evaluations = evaluate(Reading(60), [NITRATE_WHO, NITRATE_NM], NUMERIC)
    assert [e.standard for e in evaluations] == [NM, WHO]
    assert evaluations == evaluate(Reading(60), [NITRATE_NM, NITRATE_WHO], NUMERIC)
    assert all(e.outcome is FAIL for e in evaluations)


def test_evaluate_records_the_limit_used() -> None:
    (e,) = evaluate(Reading(320), [CHLORIDE_NM], NUMERIC)
    assert e == Evaluation(NM, None, 750, 300, AESTHETIC, WARNING)


def test_evaluate_judges_each_standard_on_its_own() -> None:
    by_standard = {e.standard: e.outcome for e in evaluate(Reading(8.7), [PH_WHO, PH_NM], NUMERIC)}
    assert by_standard == {WHO: WARNING, NM: FAIL}
    chloride = evaluate(Reading(280), [CHLORIDE_WHO, CHLORIDE_NM], NUMERIC)
    assert {e.standard: e.outcome for e in chloride} == {WHO: WARNING, NM: PASS}
    assert result_status(chloride) is WARNING


def test_evaluate_passes_the_margin_through() -> None:
    (e,) = evaluate(Reading(40), [NITRATE_WHO], NUMERIC, margin=0.9)
    assert e.outcome is PASS


def test_evaluate_without_limits_is_empty_and_the_result_passes() -> None:
    assert evaluate(Reading(1234), [], NUMERIC) == []
    assert result_status(evaluate(Reading(1234), [], NUMERIC)) is PASS


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], PASS),
        ([PASS], PASS),
        ([WARNING], WARNING),
        ([FAIL], FAIL),
        ([PASS, WARNING], WARNING),
        ([WARNING, PASS], WARNING),
        ([PASS, FAIL], FAIL),
        ([FAIL, WARNING], FAIL),
        ([PASS, WARNING, FAIL], FAIL),
        ([PASS, PASS], PASS),
    ],
    ids=lambda v: "+".join(s.value for s in v) or "no limits" if isinstance(v, list) else v.value,
)
def test_result_status_is_the_worst_evaluation(
    outcomes: list[ComplianceStatus], expected: ComplianceStatus
) -> None:
    assert result_status(evaluation(o) for o in outcomes) is expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], PENDING),
        ([PASS], PASS),
        ([PASS, PASS, PASS], PASS),
        ([PASS, WARNING], WARNING),
        ([WARNING, FAIL, PASS], FAIL),
        ([FAIL], FAIL),
    ],
    ids=lambda v: "+".join(s.value for s in v) or "no results" if isinstance(v, list) else v.value,
)
def test_sample_status_is_the_worst_result_and_pending_without_results(
    statuses: list[ComplianceStatus], expected: ComplianceStatus
) -> None:
    assert sample_status(statuses) is expected
    assert sample_status(iter(statuses)) is expected  # any iterable


def test_worst_ranks_fail_over_warning_over_pass_over_pending() -> None:
    ranked = [PENDING, PASS, WARNING, FAIL]
    for lower, higher in itertools.combinations(ranked, 2):
        assert worst([lower, higher], empty=PENDING) is higher
        assert worst([higher, lower], empty=PENDING) is higher
    assert worst([], empty=PASS) is PASS
    assert worst([], empty=PENDING) is PENDING


@pytest.mark.parametrize(
    "e",
    [
        Evaluation(WHO, None, 50, None, HEALTH, WARNING),
        Evaluation(NM, 6.5, 8.5, None, OPERATIONAL, FAIL),
        Evaluation(NM, None, 750, 300, AESTHETIC, PASS),
        Evaluation(WHO, None, 0, None, HEALTH, PASS),
    ],
    ids=["nitrate", "ph", "chloride with VMR", "zero limit"],
)
def test_evaluation_round_trips_through_a_dict(e: Evaluation) -> None:
    data = e.to_dict()
    assert data == {
        "standard": e.standard,
        "min": e.min,
        "max": e.max,
        "recommended_max": e.recommended_max,
        "basis": e.basis.value,
        "outcome": e.outcome.value,
    }
    assert type(data["basis"]) is str and type(data["outcome"]) is str  # JSON-ready
    assert Evaluation.from_dict(data) == e


def test_evaluation_from_dict_tolerates_missing_bounds() -> None:
    e = Evaluation.from_dict({"standard": WHO, "basis": "health", "outcome": "pass"})
    assert e == Evaluation(WHO, None, None, None, HEALTH, PASS)


def test_evaluation_from_dict_rejects_unknown_values() -> None:
    with pytest.raises(ValueError):
        Evaluation.from_dict({"standard": WHO, "basis": "taste", "outcome": "pass"})
    with pytest.raises(ValueError):
        Evaluation.from_dict({"standard": WHO, "basis": "health", "outcome": "ok"})


# --- Properties -----------------------------------------------------------------------

statuses = st.sampled_from(list(ComplianceStatus))
bounds = st.floats(min_value=0, max_value=10_000, allow_nan=False)
values = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def max_only_limits(draw: st.DrawFn) -> Limit:
    return Limit(
        standard=draw(st.sampled_from([WHO, NM])),
        standard_kind=draw(st.sampled_from(list(StandardKind))),
        parameter="x",
        min=None,
        max=draw(st.none() | bounds),
        recommended_max=draw(st.none() | bounds),
        basis=draw(st.sampled_from(list(Basis))),
    )


@st.composite
def limits_with_both_bounds(draw: st.DrawFn) -> Limit:
    low = draw(bounds)
    high = draw(st.floats(min_value=low, max_value=low + 10_000, allow_nan=False))
    return replace(draw(max_only_limits()), min=low, max=high)


@given(max_only_limits(), values, values, st.floats(min_value=0.01, max_value=1))
def test_an_equal_reading_never_improves_as_it_increases(
    limit: Limit, a: float, b: float, margin: float
) -> None:
    low, high = sorted((a, b))
    before = evaluate_limit(Reading(low), limit, NUMERIC, margin=margin)
    after = evaluate_limit(Reading(high), limit, NUMERIC, margin=margin)
    assert SEVERITY[after] >= SEVERITY[before]


@given(limits_with_both_bounds(), values)
def test_any_equal_reading_outside_min_max_is_exceeded(limit: Limit, value: float) -> None:
    assert limit.min is not None and limit.max is not None
    outcome = evaluate_limit(Reading(value), limit, NUMERIC)
    if value > limit.max or value < limit.min:
        assert outcome is exceeded(limit)
    else:
        assert outcome in (PASS, WARNING)


@given(max_only_limits(), values)
def test_a_below_detection_reading_never_fails_a_max_only_limit(limit: Limit, dl: float) -> None:
    assert evaluate_limit(Reading(0, LT, dl), limit, NUMERIC) is not FAIL


@given(max_only_limits(), values, st.sampled_from(list(Qualifier)), st.none() | values)
def test_presence_absence_is_fail_exactly_on_detection(
    limit: Limit, value: float, qualifier: Qualifier, dl: float | None
) -> None:
    detected = qualifier is GT or (qualifier is EQ and value > 0)
    outcome = evaluate_limit(Reading(value, qualifier, dl), limit, PRESENCE)
    assert outcome is (FAIL if detected else PASS)


@given(st.lists(statuses), st.randoms(use_true_random=False), statuses)
def test_worst_is_order_independent(
    found: list[ComplianceStatus], rnd: random.Random, empty: ComplianceStatus
) -> None:
    shuffled = list(found)
    rnd.shuffle(shuffled)
    assert worst(shuffled, empty=empty) is worst(found, empty=empty)
    assert worst(reversed(found), empty=empty) is worst(found, empty=empty)
    if found:
        assert SEVERITY[worst(found, empty=empty)] == max(SEVERITY[s] for s in found)


readings = st.builds(
    Reading,
    values,
    st.sampled_from(list(Qualifier)),
    st.none() | values,
)
results = st.tuples(
    readings,
    st.lists(max_only_limits() | limits_with_both_bounds(), max_size=3),
    st.sampled_from(list(ParameterKind)),
)


@given(st.lists(results, min_size=1))
def test_a_sample_with_results_is_never_pending(
    found: list[tuple[Reading, list[Limit], ParameterKind]],
) -> None:
    result_statuses = [result_status(evaluate(r, limits, kind)) for r, limits, kind in found]
    assert PENDING not in result_statuses  # a result is judged, even without limits
    assert sample_status(result_statuses) is not PENDING


@given(st.lists(st.sampled_from([PASS, WARNING, FAIL]), min_size=1))
def test_sample_status_of_real_result_statuses_is_never_pending(
    found: list[ComplianceStatus],
) -> None:
    assert sample_status(found) is not PENDING
    assert sample_status(found) is worst(found, empty=PENDING)
