"""The compliance engine: pure functions that judge a reading against drinking-water limits.

SPEC §5, FR-017/FR-025. Each limit is judged on its own; a result's status is the
worst of its evaluations, a sample's the worst of its results (`pending` without any).

- `fail`: outside min..max of a health limit, or outside any limit of a *regulation*
  (NM 03.7.001's VMA are binding whatever their basis).
- `warning`: outside an aesthetic/operational guideline value, above a recommended
  maximum (NM VMR), at/above `margin` (80 %) of a health maximum greater than zero,
  or a reading that cannot show compliance (a `<` whose detection limit is above the
  limit, a `>` whose range stops below it).
- `pass`: otherwise. For presence/absence parameters any detection fails.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DEFAULT_MARGIN = 0.8


class ComplianceStatus(StrEnum):
    PENDING = "pending"
    PASS = "pass"
    WARNING = "warning"
    FAIL = "fail"


_SEVERITY = {
    ComplianceStatus.PENDING: 0,
    ComplianceStatus.PASS: 1,
    ComplianceStatus.WARNING: 2,
    ComplianceStatus.FAIL: 3,
}


class Basis(StrEnum):
    HEALTH = "health"
    AESTHETIC = "aesthetic"
    OPERATIONAL = "operational"


class StandardKind(StrEnum):
    GUIDELINE = "guideline"  # WHO: health values fail, others warn
    REGULATION = "regulation"  # NM 03.7.001: every VMA is binding


class ParameterKind(StrEnum):
    NUMERIC = "numeric"
    PRESENCE_ABSENCE = "presence_absence"


class Qualifier(StrEnum):
    EQUAL = "="
    BELOW_DETECTION = "<"
    ABOVE_RANGE = ">"


@dataclass(frozen=True)
class Limit:
    """One standard's limit for one parameter, as the engine needs it."""

    standard: str
    standard_kind: StandardKind
    parameter: str
    min: float | None
    max: float | None
    recommended_max: float | None
    basis: Basis


@dataclass(frozen=True)
class Reading:
    value: float
    qualifier: Qualifier = Qualifier.EQUAL
    detection_limit: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """Stored with the result: the limit *used*, so later edits never rewrite history."""

    standard: str
    min: float | None
    max: float | None
    recommended_max: float | None
    basis: Basis
    outcome: ComplianceStatus

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict (a deep copy): every judged result stores these.
        return {
            "standard": self.standard,
            "min": self.min,
            "max": self.max,
            "recommended_max": self.recommended_max,
            "basis": self.basis.value,
            "outcome": self.outcome.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            standard=data["standard"],
            min=data.get("min"),
            max=data.get("max"),
            recommended_max=data.get("recommended_max"),
            basis=Basis(data["basis"]),
            outcome=ComplianceStatus(data["outcome"]),
        )


def worst(statuses: Iterable[ComplianceStatus], *, empty: ComplianceStatus) -> ComplianceStatus:
    found = list(statuses)
    return max(found, key=_SEVERITY.__getitem__) if found else empty


def evaluate_limit(
    reading: Reading, limit: Limit, kind: ParameterKind, *, margin: float = DEFAULT_MARGIN
) -> ComplianceStatus:
    if kind is ParameterKind.PRESENCE_ABSENCE:
        # `>0` is a detection too: the true count is above the (non-negative) value.
        detected = reading.qualifier is Qualifier.ABOVE_RANGE or (
            reading.qualifier is Qualifier.EQUAL and reading.value > 0
        )
        return ComplianceStatus.FAIL if detected else ComplianceStatus.PASS

    binding = limit.basis is Basis.HEALTH or limit.standard_kind is StandardKind.REGULATION
    exceeded = ComplianceStatus.FAIL if binding else ComplianceStatus.WARNING
    low, high, recommended = limit.min, limit.max, limit.recommended_max
    value = reading.value

    if reading.qualifier is Qualifier.BELOW_DETECTION:
        # The true value is below the detection limit (or below `value` if none is given).
        ceiling = reading.detection_limit if reading.detection_limit is not None else value
        if low is not None and ceiling <= low:
            return exceeded  # certainly below the minimum
        unprovable = (
            low is not None  # it may lie below the minimum
            or (high is not None and ceiling > high)
            or (recommended is not None and ceiling > recommended)
        )
        return ComplianceStatus.WARNING if unprovable else ComplianceStatus.PASS

    if reading.qualifier is Qualifier.ABOVE_RANGE:
        # The true value is above `value`.
        if high is not None and value >= high:
            return exceeded
        if high is not None or recommended is not None or (low is not None and value < low):
            return ComplianceStatus.WARNING  # may be above the max/VMR or below the min
        return ComplianceStatus.PASS

    if (high is not None and value > high) or (low is not None and value < low):
        return exceeded
    if recommended is not None and value > recommended:
        return ComplianceStatus.WARNING
    if limit.basis is Basis.HEALTH and high is not None and high > 0:
        # isclose: 0.8 * 3 is 2.4000000000000004, yet a reading of 2.4 is exactly at 80 %.
        threshold = margin * high
        if value >= threshold or math.isclose(value, threshold):
            return ComplianceStatus.WARNING
    return ComplianceStatus.PASS


def evaluate(
    reading: Reading,
    limits: Sequence[Limit],
    kind: ParameterKind,
    *,
    margin: float = DEFAULT_MARGIN,
) -> list[Evaluation]:
    return [
        Evaluation(
            standard=limit.standard,
            min=limit.min,
            max=limit.max,
            recommended_max=limit.recommended_max,
            basis=limit.basis,
            outcome=evaluate_limit(reading, limit, kind, margin=margin),
        )
        for limit in sorted(limits, key=lambda lim: lim.standard)
    ]


def result_status(evaluations: Iterable[Evaluation]) -> ComplianceStatus:
    """No applicable limit means nothing to exceed: pass."""
    return worst((e.outcome for e in evaluations), empty=ComplianceStatus.PASS)


def sample_status(result_statuses: Iterable[ComplianceStatus]) -> ComplianceStatus:
    return worst(result_statuses, empty=ComplianceStatus.PENDING)
