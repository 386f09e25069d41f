"""Units: every parameter has one canonical unit; a few spellings and mass units convert."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ALIASES = {
    "ug/l": "µg/L",
    "μg/l": "µg/L",  # Greek mu
    "µg/l": "µg/L",
    "mg/l": "mg/L",
    "us/cm": "µS/cm",
    "µs/cm": "µS/cm",
    "μs/cm": "µS/cm",
    "degc": "°C",
    "°c": "°C",
    "c": "°C",
    "ntu": "NTU",
    "ph": "pH",
    "cfu/100ml": "CFU/100mL",
}

# (from, to) -> factor to multiply a value by
CONVERSIONS = {("mg/L", "µg/L"): 1000.0, ("µg/L", "mg/L"): 0.001}


@dataclass(frozen=True)
class Converted:
    value: float
    detection_limit: float | None
    unit: str


def canonical_spelling(unit: str) -> str:
    return ALIASES.get(unit.strip().lower(), unit.strip())


def to_canonical(
    value: float, detection_limit: float | None, unit: str, canonical: str
) -> Converted | None:
    """Convert to the parameter's canonical unit; None when the units are incompatible."""
    spelled = canonical_spelling(unit)
    if spelled == canonical:
        return Converted(value, detection_limit, canonical)
    factor = CONVERSIONS.get((spelled, canonical))
    if factor is None:
        return None
    return Converted(
        _scaled(value, factor),
        _scaled(detection_limit, factor) if detection_limit is not None else None,
        canonical,
    )


def _scaled(value: float, factor: float) -> float:
    # Shift the decimal the person typed: 0.0041 mg/L is 4.1 µg/L, where the float product
    # 4.1000000000000005 would exceed a limit of 4.1.
    return float(Decimal(repr(value)) * Decimal(repr(factor)))
