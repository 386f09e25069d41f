"""Units (SPEC §5): canonical spellings, ASCII/Unicode aliases, mg/L <-> µg/L conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.compliance import (
    Basis,
    ComplianceStatus,
    Limit,
    ParameterKind,
    Reading,
    StandardKind,
    evaluate_limit,
)
from domain.units import ALIASES, Converted, canonical_spelling, to_canonical

MICRO = "\u00b5"  # MICRO SIGN, the canonical spelling
GREEK_MU = "\u03bc"  # GREEK SMALL LETTER MU, what many keyboards and fonts produce
UG_L = f"{MICRO}g/L"
US_CM = f"{MICRO}S/cm"

CANONICAL_UNITS = ["pH", "NTU", US_CM, "°C", "mg/L", UG_L, "CFU/100mL"]


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("ug/L", UG_L),
        ("ug/l", UG_L),
        ("UG/L", UG_L),
        (f"{MICRO}g/L", UG_L),
        (f"{MICRO}g/l", UG_L),
        (f"{GREEK_MU}g/L", UG_L),
        (f"{GREEK_MU}g/l", UG_L),
        ("uS/cm", US_CM),
        ("US/CM", US_CM),
        (f"{MICRO}S/cm", US_CM),
        (f"{GREEK_MU}S/cm", US_CM),
        ("degC", "°C"),
        ("DEGC", "°C"),
        ("°c", "°C"),
        ("C", "°C"),
        ("mg/l", "mg/L"),
        ("MG/L", "mg/L"),
        ("Mg/L", "mg/L"),
        ("  mg/L ", "mg/L"),
        ("ntu", "NTU"),
        ("PH", "pH"),
        ("cfu/100ml", "CFU/100mL"),
    ],
    ids=lambda v: v.encode("ascii", "backslashreplace").decode(),
)
def test_aliases_are_case_insensitive_and_accept_both_micro_characters(
    spelled: str, expected: str
) -> None:
    assert canonical_spelling(spelled) == expected


def test_the_canonical_micro_is_the_micro_sign() -> None:
    assert canonical_spelling("ug/L") == "\u00b5g/L"
    assert canonical_spelling(f"{GREEK_MU}g/L").startswith(MICRO)
    assert canonical_spelling("uS/cm").startswith(MICRO)


@pytest.mark.parametrize("unit", CANONICAL_UNITS, ids=ascii)
def test_canonical_units_spell_themselves(unit: str) -> None:
    assert canonical_spelling(unit) == unit
    assert canonical_spelling(canonical_spelling(unit)) == unit


@pytest.mark.parametrize("alias", sorted(ALIASES), ids=ascii)
def test_every_alias_key_is_normalised_and_maps_to_a_canonical_unit(alias: str) -> None:
    assert alias == alias.strip().lower()  # otherwise the lookup could never hit it
    assert ALIASES[alias] in CANONICAL_UNITS


@pytest.mark.parametrize("unit", ["ppm", "mS/cm", "mmol/L", "°F", ""], ids=repr)
def test_unknown_spellings_are_returned_as_given(unit: str) -> None:
    assert canonical_spelling(f" {unit} ") == unit


# --- to_canonical -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dl", "unit", "canonical", "expected"),
    [
        (7.2, None, "pH", "pH", Converted(7.2, None, "pH")),
        (12.5, 0.5, "mg/l", "mg/L", Converted(12.5, 0.5, "mg/L")),
        (8.0, 1.0, "ug/L", UG_L, Converted(8.0, 1.0, UG_L)),
        (8.0, None, f"{GREEK_MU}g/L", UG_L, Converted(8.0, None, UG_L)),
        (850, None, "uS/cm", US_CM, Converted(850, None, US_CM)),
        (18.5, None, "degC", "°C", Converted(18.5, None, "°C")),
        (0, None, "cfu/100ml", "CFU/100mL", Converted(0, None, "CFU/100mL")),
    ],
    ids=["pH", "mg/l", "ug/L", "greek mu", "uS/cm", "degC", "CFU"],
)
def test_same_unit_or_alias_keeps_the_value(
    value: float, dl: float | None, unit: str, canonical: str, expected: Converted
) -> None:
    assert to_canonical(value, dl, unit, canonical) == expected


@pytest.mark.parametrize(
    ("value", "dl", "unit", "canonical", "expected_value", "expected_dl"),
    [
        (0.01, 0.001, "mg/L", UG_L, 10.0, 1.0),  # lead/arsenic at the limit
        (0.003, None, "mg/L", UG_L, 3.0, None),  # cadmium
        (0.006, 0.0005, "MG/L", UG_L, 6.0, 0.5),  # mercury
        (0.05, 0.002, "mg/l", UG_L, 50.0, 2.0),  # chromium
        (0.0, 0.001, "mg/L", UG_L, 0.0, 1.0),  # not detected
        (80, 5, UG_L, "mg/L", 0.08, 0.005),  # manganese
        (80, None, "ug/L", "mg/L", 0.08, None),
        (300, 10, f"{GREEK_MU}g/L", "mg/L", 0.3, 0.01),  # iron
        (50_000, None, "ug/l", "mg/L", 50.0, None),  # nitrate
    ],
    ids=[
        "0.01 mg/L -> 10 ug/L",
        "0.003 mg/L -> 3 ug/L",
        "0.006 MG/L -> 6 ug/L",
        "0.05 mg/l -> 50 ug/L",
        "0 mg/L keeps its DL",
        "80 ug/L -> 0.08 mg/L",
        "80 ug/L ascii -> mg/L",
        "300 greek-mu g/L -> 0.3 mg/L",
        "50000 ug/l -> 50 mg/L",
    ],
)
def test_mg_and_ug_per_litre_convert_with_the_detection_limit(
    value: float,
    dl: float | None,
    unit: str,
    canonical: str,
    expected_value: float,
    expected_dl: float | None,
) -> None:
    converted = to_canonical(value, dl, unit, canonical)
    assert converted is not None
    assert converted.unit == canonical
    assert converted.value == pytest.approx(expected_value, rel=1e-12)
    if expected_dl is None:
        assert converted.detection_limit is None
    else:
        assert converted.detection_limit == pytest.approx(expected_dl, rel=1e-12)


@pytest.mark.parametrize(
    ("unit", "canonical"),
    [
        ("mg/L", "NTU"),
        ("mg/L", "pH"),
        ("mg/L", "CFU/100mL"),
        ("ug/L", US_CM),
        (US_CM, "mg/L"),
        ("mS/cm", US_CM),  # not converted: rejected rather than guessed
        ("°C", "mg/L"),
        ("degF", "°C"),
        ("NTU", UG_L),
        ("ppm", "mg/L"),
        ("", "mg/L"),
        ("CFU/100mL", "NTU"),
    ],
    ids=ascii,
)
def test_incompatible_units_give_none(unit: str, canonical: str) -> None:
    assert to_canonical(1.0, 0.1, unit, canonical) is None
    assert to_canonical(1.0, None, unit, canonical) is None


@pytest.mark.parametrize(
    ("mg_per_l", "expected"),
    [
        (0.0079, ComplianceStatus.PASS),
        (0.008, ComplianceStatus.WARNING),  # exactly 80 %
        (0.01, ComplianceStatus.WARNING),  # exactly at the max, not above it
        (0.0101, ComplianceStatus.FAIL),
    ],
    ids=["7.9 ug/L", "8 ug/L (80 %)", "10 ug/L (max)", "10.1 ug/L"],
)
def test_a_converted_reading_is_judged_like_one_entered_in_the_canonical_unit(
    mg_per_l: float, expected: ComplianceStatus
) -> None:
    arsenic = Limit(
        "WHO-GDWQ-2022", StandardKind.GUIDELINE, "arsenic", None, 10, None, Basis.HEALTH
    )
    converted = to_canonical(mg_per_l, None, "mg/L", UG_L)
    assert converted is not None
    assert evaluate_limit(Reading(converted.value), arsenic, ParameterKind.NUMERIC) is expected


positive = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(positive, st.none() | positive)
def test_mg_to_ug_and_back_round_trips(value: float, dl: float | None) -> None:
    there = to_canonical(value, dl, "mg/L", UG_L)
    assert there is not None
    back = to_canonical(there.value, there.detection_limit, "ug/L", "mg/L")
    assert back is not None
    assert back.value == pytest.approx(value, rel=1e-12, abs=1e-300)
    assert (back.detection_limit is None) == (dl is None)
    if dl is not None:
        assert back.detection_limit == pytest.approx(dl, rel=1e-12, abs=1e-300)
    assert there.value == pytest.approx(value * 1000, rel=1e-12)
