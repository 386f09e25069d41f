"""Bulk demo data for `aqualab seed-demo`: realistic Moroccan water samples and test results.

Speed comes from PostgreSQL's COPY (text format, built here) through the SQLAlchemy
engine's raw psycopg connection, one transaction per batch, with the next batch generated
in a second thread while PostgreSQL ingests the current one. Correctness comes from using
the product's own rules rather than copies of them:

- every result is judged by `domain.compliance.evaluate` with the limits read from the
  database (each standard's kind, the configured margin), exactly as the API's
  `application.samples.judge` does, and stores the same `evaluations` and
  `compliance_status`; a sample's `compliance_status` is `sample_status` of its results;
- every sample and result gets one audit_log `create` entry whose `new_values` is the
  row's `Sample.snapshot()` / `TestResult.snapshot()` (reason "aqualab seed-demo", a
  `request_id` naming the run), written in the same transaction as the rows; the
  database's trigger queues each entry for the sealer as for any other write;
- labs are found or created through `application.labs.ensure_lab` (audited);
- users and tasks (`--users N --tasks N`) come from demo_people.py, written the same way.

Ids are always fresh (a second run adds data); `seed` makes the content reproducible.
Samples are recorded as created by nobody (no user), like other operator commands.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from application.context import RequestMeta
from application.labs import ensure_lab
from domain.compliance import (
    DEFAULT_MARGIN,
    Basis,
    ComplianceStatus,
    Limit,
    ParameterKind,
    Qualifier,
    Reading,
    StandardKind,
    evaluate,
    result_status,
    sample_status,
)
from domain.lab_data import SampleStatus, SampleType
from domain.ports import AuditChain, Clock, IdGenerator, UnitOfWork

SEED_REASON = "aqualab seed-demo"
DEFAULT_BATCH = 2000
MAX_RESULTS_PER_SAMPLE = 21  # one result per parameter at most

# --- vocabulary -------------------------------------------------------------------------

# Labs (name, region index into REGIONS). With one lab and no --lab, a national lab
# samples every region.
NATIONAL_LAB = "Laboratoire National de l'Eau (demo)"
REGIONAL_LABS = (
    "Laboratoire Régional Casablanca-Settat (demo)",
    "Laboratoire Régional Rabat-Salé-Kénitra (demo)",
    "Laboratoire Régional Marrakech-Safi (demo)",
    "Laboratoire Régional Fès-Meknès (demo)",
    "Laboratoire Régional Souss-Massa (demo)",
    "Laboratoire Régional Tanger-Tétouan (demo)",
    "Laboratoire Régional de l'Oriental (demo)",
    "Laboratoire Régional Béni Mellal-Khénifra (demo)",
)

# Localities: (name, latitude, longitude), one tuple per region.
REGIONS: tuple[tuple[tuple[str, float, float], ...], ...] = (
    (
        ("Bouskoura", 33.449, -7.651),
        ("Had Soualem", 33.421, -7.851),
        ("Mohammedia", 33.686, -7.383),
        ("Berrechid", 33.265, -7.587),
        ("Settat", 33.001, -7.616),
        ("El Jadida", 33.254, -8.506),
        ("Sidi Maârouf", 33.532, -7.650),
        ("Médiouna", 33.455, -7.516),
        ("Benslimane", 33.618, -7.121),
        ("Azemmour", 33.288, -8.342),
    ),
    (
        ("Rabat Agdal", 34.000, -6.850),
        ("Salé Tabriquet", 34.046, -6.803),
        ("Témara", 33.928, -6.907),
        ("Kénitra", 34.261, -6.580),
        ("Skhirat", 33.852, -7.031),
        ("Tiflet", 33.894, -6.307),
        ("Khémisset", 33.824, -6.066),
        ("Sidi Kacem", 34.221, -5.708),
    ),
    (
        ("Marrakech Médina", 31.630, -7.990),
        ("Tamansourt", 31.745, -8.120),
        ("Aït Ourir", 31.563, -7.662),
        ("Chichaoua", 31.544, -8.761),
        ("Safi", 32.299, -9.237),
        ("Essaouira", 31.513, -9.770),
        ("Tahannaout", 31.353, -7.950),
        ("El Kelaâ des Sraghna", 32.048, -7.408),
    ),
    (
        ("Fès Saïss", 33.980, -5.010),
        ("Meknès", 33.895, -5.555),
        ("Ifrane", 33.533, -5.111),
        ("Sefrou", 33.831, -4.838),
        ("Azrou", 33.434, -5.221),
        ("El Hajeb", 33.690, -5.370),
        ("Moulay Yacoub", 34.087, -5.180),
        ("Taza", 34.210, -4.010),
    ),
    (
        ("Agadir Founty", 30.400, -9.590),
        ("Inezgane", 30.355, -9.536),
        ("Aït Melloul", 30.334, -9.497),
        ("Taroudant", 30.470, -8.877),
        ("Tiznit", 29.698, -9.731),
        ("Biougra", 30.215, -9.372),
        ("Oulad Teima", 30.395, -9.209),
    ),
    (
        ("Tanger Boukhalef", 35.730, -5.890),
        ("Tétouan", 35.578, -5.368),
        ("Larache", 35.193, -6.156),
        ("Asilah", 35.465, -6.034),
        ("Chefchaouen", 35.171, -5.270),
        ("Martil", 35.617, -5.275),
        ("Fnideq", 35.850, -5.357),
    ),
    (
        ("Oujda", 34.681, -1.908),
        ("Berkane", 34.920, -2.320),
        ("Nador", 35.168, -2.933),
        ("Taourirt", 34.407, -2.897),
        ("Jerada", 34.310, -2.160),
        ("Saïdia", 35.085, -2.239),
    ),
    (
        ("Béni Mellal", 32.337, -6.349),
        ("Khouribga", 32.881, -6.906),
        ("Fquih Ben Salah", 32.502, -6.691),
        ("Kasba Tadla", 32.599, -6.267),
        ("Khénifra", 32.935, -5.668),
        ("Azilal", 31.961, -6.572),
    ),
)

# Rivers, dams and springs by region (surface water and bottled spring sources).
WATERS: tuple[tuple[str, ...], ...] = (
    ("Oum Er-Rbia", "Oued Mellah", "Barrage Daourat"),
    ("Bou Regreg", "Sebou", "Barrage Sidi Mohammed Ben Abdellah"),
    ("Tensift", "Lalla Takerkoust reservoir", "Oued N'Fis"),
    ("Sebou", "Oued Fès", "Barrage Idriss Ier", "Aïn Saïss spring"),
    ("Oued Souss", "Barrage Abdelmoumen", "Oued Massa"),
    ("Oued Loukkos", "Barrage 9 Avril", "Oued Martil"),
    ("Moulouya", "Barrage Mohammed V", "Oued Isly"),
    ("Oum Er-Rbia", "Barrage Bin El Ouidane", "Aïn Asserdoun spring"),
)

SITE_FORMS: dict[SampleType, tuple[str, ...]] = {
    SampleType.DRINKING: (
        "{place} tap {n}",
        "{place} distribution tank {n}",
        "{place} treatment plant outlet",
        "{place} school tap {n}",
        "{place} standpipe {n}",
        "{place} health centre tap",
    ),
    SampleType.GROUND: ("{place} well {n}", "{place} borehole {n}", "{place} douar well {n}"),
    SampleType.SURFACE: (
        "{water} intake",
        "{water} intake {n}",
        "{water} at {place}",
        "{water} sampling point {n}",
    ),
    SampleType.WASTE: (
        "{place} WWTP inlet",
        "{place} WWTP outlet",
        "{place} industrial outfall {n}",
    ),
    SampleType.BOTTLED: ("{water} bottling line {n}", "{place} bottling plant, batch line {n}"),
    SampleType.OTHER: ("{place} irrigation canal {n}", "{place} hammam supply", "{place} pool {n}"),
}
SITE_NUMBERS = 6  # "{place} well 1" … "{place} well 6"

TYPE_WEIGHTS: tuple[tuple[SampleType, int], ...] = (
    (SampleType.DRINKING, 50),
    (SampleType.GROUND, 25),
    (SampleType.SURFACE, 15),
    (SampleType.WASTE, 4),
    (SampleType.BOTTLED, 4),
    (SampleType.OTHER, 2),
)

# Chance that a sample is a "problem" sample (its results often exceed a limit).
PROBLEM_RATE: dict[SampleType, float] = {
    SampleType.DRINKING: 0.05,
    SampleType.GROUND: 0.15,
    SampleType.SURFACE: 0.20,
    SampleType.WASTE: 0.50,
    SampleType.BOTTLED: 0.02,
    SampleType.OTHER: 0.10,
}
BAD_RESULT_RATE = 0.3  # within a problem sample
ELEVATED_RATE = 0.75  # of bad readings: in the warning band (where there is one), not over

# Parameters each type of sample is usually tested for; the first two always are.
PANELS: dict[SampleType, tuple[str, ...]] = {
    SampleType.DRINKING: (
        "ph",
        "free_chlorine",
        "turbidity",
        "conductivity",
        "e_coli",
        "total_coliforms",
        "nitrate",
        "temperature",
        "chloride",
        "enterococci",
    ),
    SampleType.GROUND: (
        "nitrate",
        "conductivity",
        "ph",
        "chloride",
        "e_coli",
        "total_coliforms",
        "sulfate",
        "fluoride",
        "arsenic",
        "iron",
        "manganese",
        "temperature",
    ),
    SampleType.SURFACE: (
        "turbidity",
        "ph",
        "ammonium",
        "nitrite",
        "e_coli",
        "enterococci",
        "total_coliforms",
        "iron",
        "manganese",
        "conductivity",
        "temperature",
        "lead",
    ),
    SampleType.WASTE: (
        "ammonium",
        "ph",
        "nitrite",
        "nitrate",
        "lead",
        "cadmium",
        "chromium",
        "mercury",
        "e_coli",
        "turbidity",
    ),
    SampleType.BOTTLED: (
        "ph",
        "conductivity",
        "nitrate",
        "fluoride",
        "e_coli",
        "total_coliforms",
        "enterococci",
        "chloride",
        "sulfate",
    ),
    SampleType.OTHER: ("ph", "conductivity", "nitrate", "turbidity", "e_coli", "chloride"),
}


@dataclass(frozen=True)
class ValueModel:
    """How a parameter's readings look: a usual distribution, then ranges for bad readings.

    `warn` is a range that the seeded limits judge `warning` (80 % of a health limit, above
    an NM VMR or a WHO aesthetic value, below the NM VMA); `over` is beyond a binding limit.
    The engine decides the status; these ranges only make the mix realistic.
    """

    dist: str  # "normal" (center, spread) or "lognormal" (median, sigma)
    center: float
    spread: float
    decimals: int
    over: tuple[float, float]
    method: str
    warn: tuple[float, float] | None = None
    detection_limit: float | None = None  # trace metals: often reported as "< DL"
    below_dl_rate: float = 0.0


ICP_MS = "ICP-MS (ISO 17294-2)"
ION_CHROMATOGRAPHY = "Ion chromatography (ISO 10304-1)"
VALUE_MODELS: dict[str, ValueModel] = {
    "ph": ValueModel("normal", 7.55, 0.25, 2, (8.6, 9.3), "Potentiometry (NM ISO 10523)"),
    "turbidity": ValueModel(
        "lognormal", 0.3, 0.7, 2, (5.5, 25), "Nephelometry (NM ISO 7027)", (1.1, 4.8)
    ),
    "conductivity": ValueModel("lognormal", 850, 0.35, 0, (2750, 4500), "Conductimetry (ISO 7888)"),
    "temperature": ValueModel("normal", 18, 2.5, 1, (25.5, 31), "Thermometer, on site"),
    "nitrate": ValueModel("lognormal", 12, 0.55, 1, (52, 120), ION_CHROMATOGRAPHY, (40.5, 49.5)),
    "nitrite": ValueModel(
        "lognormal", 0.02, 0.9, 3, (0.55, 3.5), "Molecular absorption (ISO 6777)", (0.41, 0.49)
    ),
    "ammonium": ValueModel("lognormal", 0.04, 0.7, 2, (0.6, 3), "Spectrophotometry (ISO 7150-1)"),
    "chloride": ValueModel("lognormal", 90, 0.45, 1, (760, 1200), ION_CHROMATOGRAPHY, (260, 700)),
    "sulfate": ValueModel("lognormal", 70, 0.45, 1, (410, 650), ION_CHROMATOGRAPHY, (210, 390)),
    "fluoride": ValueModel("lognormal", 0.35, 0.4, 2, (1.6, 3), ION_CHROMATOGRAPHY, (1.21, 1.49)),
    "iron": ValueModel("lognormal", 0.04, 0.7, 3, (0.31, 1.2), "ICP-OES (ISO 11885)"),
    "manganese": ValueModel(
        "lognormal", 0.01, 0.7, 3, (0.09, 0.4), "ICP-OES (ISO 11885)", (0.065, 0.079)
    ),
    "free_chlorine": ValueModel("normal", 0.5, 0.15, 2, (1.1, 2.5), "DPD colorimetry (ISO 7393-2)"),
    "arsenic": ValueModel("lognormal", 2, 0.5, 1, (10.5, 30), ICP_MS, (8.1, 9.9), 1.0, 0.55),
    "lead": ValueModel("lognormal", 2, 0.5, 1, (10.5, 30), ICP_MS, (8.1, 9.9), 1.0, 0.65),
    "cadmium": ValueModel("lognormal", 0.6, 0.4, 2, (3.1, 8), ICP_MS, (2.45, 2.95), 0.5, 0.75),
    "mercury": ValueModel(
        "lognormal", 0.2, 0.4, 2, (1.1, 4), "ICP-MS (ISO 17852)", (0.81, 0.99), 0.1, 0.8
    ),
    "chromium": ValueModel("lognormal", 5, 0.5, 1, (51, 120), ICP_MS, (40.5, 49.5), 2.0, 0.5),
    "e_coli": ValueModel("normal", 0, 0, 0, (1, 1), "Membrane filtration (ISO 9308-1)"),
    "total_coliforms": ValueModel("normal", 0, 0, 0, (1, 1), "Membrane filtration (ISO 9308-1)"),
    "enterococci": ValueModel("normal", 0, 0, 0, (1, 1), "Membrane filtration (ISO 7899-2)"),
}
# Chance that a clean sample's microbiology still shows a detection, by sample type.
BACKGROUND_DETECTION: dict[SampleType, float] = {
    SampleType.DRINKING: 0.003,
    SampleType.GROUND: 0.02,
    SampleType.SURFACE: 0.08,
    SampleType.WASTE: 0.3,
    SampleType.BOTTLED: 0.001,
    SampleType.OTHER: 0.05,
}

FIRST_NAMES = (
    "Youssef", "Fatima Zahra", "Mohammed", "Khadija", "Hamza", "Salma", "Omar", "Imane",
    "Ayoub", "Meryem", "Rachid", "Nadia", "Karim", "Hind", "Saïd", "Zineb", "Abdelilah",
    "Soukaina", "Mehdi", "Asmae", "Hicham", "Latifa", "Anas", "Ghizlane", "Brahim", "Naima",
)  # fmt: skip
LAST_NAMES = (
    "El Amrani", "Benali", "Ouazzani", "Berrada", "Tazi", "El Idrissi", "Alaoui", "Bennani",
    "Chraibi", "Lahlou", "El Fassi", "Saidi", "Naciri", "Belkadi", "Aït Benhaddou", "Ouahbi",
    "Lamrani", "Zouiten", "Hajji", "Bouzidi", "Ennaji", "Kettani", "Sebti", "Amzil",
)  # fmt: skip
COLLECTORS_PER_LAB = 24
TECHNICIANS_PER_LAB = 10

SAMPLE_NOTES = (
    "Sample cooled to 4 °C during transport",
    "Duplicate taken for the regional lab",
    "Slight odour noted at collection",
    "Collected after heavy rain",
    "Site access delayed; collected in the afternoon",
    "Chlorine residual measured on site",
)
REJECTION_NOTES = (
    "Rejected: container leaking on arrival",
    "Rejected: holding time exceeded",
    "Rejected: unlabelled bottle",
)
RESULT_NOTES = ("Re-tested, same value", "Value confirmed on a second aliquot")

_STATUS_BY_AGE_DAYS = 14  # samples collected in the last two weeks may still be in analysis


# --- reference data from the database ------------------------------------------------------


@dataclass(frozen=True)
class ParameterInfo:
    code: str
    unit: str
    kind: ParameterKind
    min_value: float | None
    max_value: float | None


@dataclass
class Judge:
    """The engine with the database's limits, memoised on the (rounded) reading.

    `evaluate` is a pure function of (reading, limits, kind, margin), so a cached answer is
    exactly what a fresh call would return; readings are rounded to a lab's precision, so
    the cache stays small and most of 500,000 results are judged from it.
    """

    parameters: dict[str, ParameterInfo]
    limits: dict[str, list[Limit]]
    margin: float = DEFAULT_MARGIN
    _cache: dict[tuple[str, float, str, float | None], tuple[list[dict[str, Any]], str, str]] = (
        field(default_factory=dict)
    )

    @classmethod
    def load(cls, conn: sa.Connection, margin: float = DEFAULT_MARGIN) -> Judge:
        p, s, lim = tables.parameters.c, tables.standards.c, tables.standard_limits.c
        parameters = {
            row.code: ParameterInfo(
                row.code, row.unit, ParameterKind(row.kind), row.min_value, row.max_value
            )
            for row in conn.execute(sa.select(p.code, p.unit, p.kind, p.min_value, p.max_value))
        }
        kinds = {
            row.code: StandardKind(row.kind) for row in conn.execute(sa.select(s.code, s.kind))
        }
        limits: dict[str, list[Limit]] = {code: [] for code in parameters}
        rows = conn.execute(
            sa.select(
                lim.standard_code,
                lim.parameter_code,
                lim.min,
                lim.max,
                lim.recommended_max,
                lim.basis,
            ).order_by(lim.parameter_code, lim.standard_code)
        )
        for row in rows:
            if row.standard_code not in kinds:
                continue  # as the API: a limit of an unknown standard is not applied
            limits.setdefault(row.parameter_code, []).append(
                Limit(
                    standard=row.standard_code,
                    standard_kind=kinds[row.standard_code],
                    parameter=row.parameter_code,
                    min=row.min,
                    max=row.max,
                    recommended_max=row.recommended_max,
                    basis=Basis(row.basis),
                )
            )
        return cls(parameters, limits, margin)

    def judge(
        self, code: str, value: float, qualifier: Qualifier, detection_limit: float | None
    ) -> tuple[list[dict[str, Any]], str, str]:
        """(evaluations as stored, their JSON, the result's status value)."""
        key = (code, value, qualifier.value, detection_limit)
        hit = self._cache.get(key)
        if hit is None:
            evaluations = evaluate(
                Reading(value, qualifier, detection_limit),
                self.limits.get(code, []),
                self.parameters[code].kind,
                margin=self.margin,
            )
            stored = [e.to_dict() for e in evaluations]
            hit = (stored, _json(stored), result_status(evaluations).value)
            self._cache[key] = hit
        return hit


# --- options and report --------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOptions:
    samples: int
    results_per_sample: int = 5
    labs: int = 1
    lab_name: str | None = None
    seed: int = 42
    batch_size: int = DEFAULT_BATCH
    margin: float = DEFAULT_MARGIN
    users: int = 0  # demo_people.py: the labs' users (one admin, viewers, technicians)
    tasks: int = 0  # demo_people.py: tasks spread over those users

    def problems(self) -> list[str]:
        found = []
        if self.samples < 0:
            found.append("--samples must be 0 or more")
        if self.users < 0 or self.tasks < 0:
            found.append("--users and --tasks must be 0 or more")
        if self.tasks > 0 and self.users == 0:
            found.append("--tasks needs --users (tasks belong to users)")
        if not 0 <= self.results_per_sample <= MAX_RESULTS_PER_SAMPLE:
            found.append(f"--results-per-sample must be 0 to {MAX_RESULTS_PER_SAMPLE}")
        if self.labs < 1:
            found.append("--labs must be 1 or more")
        if self.lab_name is not None and not self.lab_name.strip():
            found.append("--lab must not be empty")
        if self.batch_size < 1:
            found.append("--batch-size must be 1 or more")
        return found


@dataclass
class DemoReport:
    lab_ids: list[UUID]
    samples: int = 0
    results: int = 0
    audit_entries: int = 0
    seconds: float = 0.0
    sample_statuses: dict[str, int] = field(default_factory=dict)
    result_statuses: dict[str, int] = field(default_factory=dict)
    request_id: str = ""


def lab_names(options: DemoOptions) -> list[str]:
    """--lab NAME names the first lab ("NAME 2", "NAME 3"… after it); else demo names."""
    if options.lab_name:
        base = options.lab_name.strip()
        return [base] + [f"{base} {i}" for i in range(2, options.labs + 1)]
    if options.labs == 1:
        return [NATIONAL_LAB]
    names = list(REGIONAL_LABS[: options.labs])
    names += [f"Laboratoire Demo {i}" for i in range(len(names) + 1, options.labs + 1)]
    return names


def ensure_demo_labs(
    uow_factory: Callable[[], UnitOfWork], clock: Clock, ids: IdGenerator, names: Sequence[str]
) -> list[UUID]:
    """Find each lab by name (any case) or create it, audited, through the product's use case."""
    meta = RequestMeta(reason=SEED_REASON)
    found = []
    for name in names:
        with uow_factory() as uow:
            found.append(ensure_lab(uow, clock, ids, name, meta))
            uow.commit()
    return found


# --- generation ------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _text(value: str) -> str:
    """A value in COPY's text format (NULL is written as \\N by the caller)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _opt(value: str | None) -> str:
    return "\\N" if value is None else _text(value)


def _num(value: float | None) -> str:
    return "\\N" if value is None else repr(value)


@dataclass(frozen=True)
class Site:
    location: str
    latitude: float
    longitude: float


@dataclass
class LabProfile:
    lab_id: UUID
    sites: dict[SampleType, list[Site]]
    collectors: list[str]
    technicians: list[str]


def _people(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
    return sorted(names)


def _lab_profile(rng: random.Random, lab_id: UUID, region: int | None) -> LabProfile:
    regions = range(len(REGIONS)) if region is None else [region % len(REGIONS)]
    sites: dict[SampleType, list[Site]] = {t: [] for t in SampleType}
    for r in regions:
        for place, lat, lon in REGIONS[r]:
            for sample_type, forms in SITE_FORMS.items():
                for form in forms:
                    numbers = range(1, SITE_NUMBERS + 1) if "{n}" in form else [0]
                    waters = WATERS[r] if "{water}" in form else ("",)
                    for water in waters:
                        for n in numbers:
                            name = form.format(place=place, water=water, n=n)
                            site = Site(
                                name,
                                round(lat + rng.uniform(-0.06, 0.06), 6),
                                round(lon + rng.uniform(-0.06, 0.06), 6),
                            )
                            sites[sample_type].append(site)
    for sample_type, found in sites.items():  # a water named without a place repeats
        unique = {s.location: s for s in found}  # keep one site per name
        sites[sample_type] = sorted(unique.values(), key=lambda s: s.location)
    return LabProfile(
        lab_id, sites, _people(rng, COLLECTORS_PER_LAB), _people(rng, TECHNICIANS_PER_LAB)
    )


@dataclass
class Batch:
    samples: str
    results: str
    audit: str
    sample_count: int
    result_count: int
    sample_statuses: dict[str, int]
    result_statuses: dict[str, int]


class Generator:
    """Builds batches of COPY text for samples, results and their audit entries."""

    def __init__(
        self,
        options: DemoOptions,
        judge: Judge,
        lab_ids: Sequence[UUID],
        now: datetime,
        request_id: str,
    ):
        self.options = options
        self.judge = judge
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.occurred_at = ""  # the audit time of the current batch (set per batch)
        self.request_id = request_id
        self.rng = random.Random(options.seed)  # noqa: S311 - demo content, not secrets
        self.ids = random.Random()  # noqa: S311 - fresh ids on every run, whatever the seed
        regional = len(lab_ids) > 1  # one lab samples the whole country; several split it
        self.labs = [
            _lab_profile(self.rng, lab_id, i if regional else None)
            for i, lab_id in enumerate(lab_ids)
        ]
        self.types = [t for t, _ in TYPE_WEIGHTS]
        self.type_weights = [float(w) for _, w in TYPE_WEIGHTS]
        missing = {c for panel in PANELS.values() for c in panel} - set(judge.parameters)
        if missing:
            raise ValueError(f"parameters missing from the database: {sorted(missing)}")
        self.all_codes = sorted(c for c in judge.parameters if c in VALUE_MODELS)
        self.span_seconds = 730 * 86400

    def _uuid(self) -> UUID:
        return UUID(int=self.ids.getrandbits(128), version=4)

    def _moment(self, moment: datetime) -> datetime:
        return min(moment, self.now).replace(microsecond=0)

    def _parameters(self, sample_type: SampleType) -> list[str]:
        k = self.options.results_per_sample
        panel = list(PANELS[sample_type])
        if k <= 2:
            return panel[:k]
        rest = panel[2:]
        extra = [c for c in self.all_codes if c not in panel]
        if k - 2 > len(rest):
            rest += self.rng.sample(extra, min(len(extra), k - 2 - len(rest)))
            return panel[:2] + rest
        return panel[:2] + self.rng.sample(rest, k - 2)

    def _reading(
        self, code: str, sample_type: SampleType, bad: bool
    ) -> tuple[float, Qualifier, float | None]:
        rng = self.rng
        model = VALUE_MODELS[code]
        info = self.judge.parameters[code]
        if info.kind is ParameterKind.PRESENCE_ABSENCE:
            detected = bad or rng.random() < BACKGROUND_DETECTION[sample_type]
            return (1.0 if detected else 0.0), Qualifier.EQUAL, None
        if bad:
            band = model.warn if model.warn and rng.random() < ELEVATED_RATE else model.over
            if code == "ph" and rng.random() < 0.5:
                band = (5.8, 6.4)  # acidic as well as alkaline
            value = rng.uniform(*band)
        else:
            if model.detection_limit is not None and rng.random() < model.below_dl_rate:
                dl = model.detection_limit
                return dl, Qualifier.BELOW_DETECTION, dl
            if model.dist == "normal":
                value = rng.gauss(model.center, model.spread)
            else:
                value = model.center * math.exp(rng.gauss(0.0, model.spread))
            if code == "free_chlorine" and sample_type is not SampleType.DRINKING:
                value *= 0.2
        value = round(value, model.decimals)
        low = info.min_value if info.min_value is not None else -math.inf
        high = info.max_value if info.max_value is not None else math.inf
        floor = 10.0**-model.decimals if code != "temperature" else low
        value = min(max(value, low, floor), high)
        return float(value), Qualifier.EQUAL, None

    def batch(self, count: int) -> Batch:
        rng = self.rng
        self.occurred_at = datetime.now(UTC).isoformat()
        occurred_at, reason, request_id = self.occurred_at, _text(SEED_REASON), self.request_id
        sample_rows: list[str] = []
        result_rows: list[str] = []
        audit_rows: list[str] = []
        sample_counts: dict[str, int] = {}
        result_counts: dict[str, int] = {}
        for _ in range(count):
            lab = self.labs[rng.randrange(len(self.labs))]
            lab_id = str(lab.lab_id)
            sample_type = rng.choices(self.types, self.type_weights)[0]
            site = rng.choice(lab.sites[sample_type])
            age = rng.random() * self.span_seconds
            day = (self.now - timedelta(seconds=age)).replace(hour=0, minute=0, second=0)
            collected = self._moment(day + timedelta(minutes=rng.randint(7 * 60, 16 * 60)))
            created = self._moment(collected + timedelta(minutes=rng.randint(30, 6 * 60)))
            recent = (self.now - collected).days < _STATUS_BY_AGE_DAYS
            roll = rng.random()
            notes: str | None
            if roll < 0.02:
                status, notes = SampleStatus.REJECTED, rng.choice(REJECTION_NOTES)
            else:
                in_analysis = recent and roll < 0.7
                status = SampleStatus.IN_ANALYSIS if in_analysis else SampleStatus.COMPLETED
                notes = rng.choice(SAMPLE_NOTES) if rng.random() < 0.05 else None
            problem = rng.random() < PROBLEM_RATE[sample_type]
            sample_id = str(self._uuid())
            technician = rng.choice(lab.technicians)
            collector = rng.choice(lab.collectors)
            statuses: list[ComplianceStatus] = []
            sample_results: list[tuple[str, str]] = []  # (result row, audit JSON)
            for code in self._parameters(sample_type):
                bad = problem and rng.random() < BAD_RESULT_RATE
                value, qualifier, dl = self._reading(code, sample_type, bad)
                evaluations, evaluations_json, r_status = self.judge.judge(
                    code, value, qualifier, dl
                )
                statuses.append(ComplianceStatus(r_status))
                result_counts[r_status] = result_counts.get(r_status, 0) + 1
                tested = self._moment(created + timedelta(minutes=rng.randint(30, 72 * 60)))
                recorded = self._moment(tested + timedelta(minutes=rng.randint(20, 8 * 60)))
                result_id = str(self._uuid())
                unit = self.judge.parameters[code].unit
                method = VALUE_MODELS[code].method
                r_notes = rng.choice(RESULT_NOTES) if rng.random() < 0.01 else None
                test_date = tested.isoformat()
                row = "\t".join(
                    (
                        result_id,
                        sample_id,
                        lab_id,
                        code,
                        repr(value),
                        qualifier.value,
                        _num(dl),
                        _text(unit),
                        test_date,
                        _text(technician),
                        _text(method),
                        r_status,
                        _text(evaluations_json),
                        _opt(r_notes),
                        "1",
                        recorded.isoformat(),
                        recorded.isoformat(),
                    )
                )
                snapshot = {  # TestResult.snapshot() of the stored row
                    "id": result_id,
                    "sample_id": sample_id,
                    "parameter": code,
                    "value": value,
                    "qualifier": qualifier.value,
                    "detection_limit": dl,
                    "unit": unit,
                    "test_date": test_date,
                    "technician_name": technician,
                    "test_method": method,
                    "compliance_status": r_status,
                    "evaluations": evaluations,
                    "notes": r_notes,
                    "version": 1,
                    "deleted": False,
                }
                sample_results.append((row, _json(snapshot)))
            compliance = sample_status(statuses).value
            sample_counts[compliance] = sample_counts.get(compliance, 0) + 1
            collection_date = collected.isoformat()
            sample_rows.append(
                "\t".join(
                    (
                        sample_id,
                        lab_id,
                        sample_type.value,
                        _text(site.location),
                        repr(site.latitude),
                        repr(site.longitude),
                        collection_date,
                        _text(collector),
                        status.value,
                        compliance,
                        _opt(notes),
                        "1",
                        created.isoformat(),
                        created.isoformat(),
                    )
                )
            )
            sample_snapshot = {  # Sample.snapshot() of the stored row
                "id": sample_id,
                "lab_id": lab_id,
                "type": sample_type.value,
                "location": site.location,
                "latitude": site.latitude,
                "longitude": site.longitude,
                "collection_date": collection_date,
                "collector_name": collector,
                "status": status.value,
                "compliance_status": compliance,
                "notes": notes,
                "version": 1,
                "deleted": False,
            }
            audit_rows.append(
                f"{occurred_at}\tsample\t{sample_id}\tcreate\t{_text(_json(sample_snapshot))}"
                f"\t{reason}\t{request_id}\t{lab_id}"
            )
            for row, snapshot_json in sample_results:
                result_rows.append(row)
                result_id = row.split("\t", 1)[0]
                audit_rows.append(
                    f"{occurred_at}\tresult\t{result_id}\tcreate\t{_text(snapshot_json)}"
                    f"\t{reason}\t{request_id}\t{lab_id}"
                )
        return Batch(
            samples="\n".join(sample_rows) + "\n" if sample_rows else "",
            results="\n".join(result_rows) + "\n" if result_rows else "",
            audit="\n".join(audit_rows) + "\n" if audit_rows else "",
            sample_count=count,
            result_count=len(result_rows),
            sample_statuses=sample_counts,
            result_statuses=result_counts,
        )


SAMPLE_COLUMNS = (
    "id, lab_id, type, location, latitude, longitude, collection_date, collector_name, "
    "status, compliance_status, notes, version, created_at, updated_at"
)
RESULT_COLUMNS = (
    "id, sample_id, lab_id, parameter, value, qualifier, detection_limit, unit, test_date, "
    "technician_name, test_method, compliance_status, evaluations, notes, version, "
    "created_at, updated_at"
)
AUDIT_COLUMNS = (
    "occurred_at, entity_type, entity_id, action, new_values, reason, request_id, lab_id"
)
_CHUNK = 1 << 20


def _copy(cursor: Any, table: str, columns: str, data: str) -> None:
    if not data:
        return
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        raw = data.encode()
        for start in range(0, len(raw), _CHUNK):
            copy.write(raw[start : start + _CHUNK])


def _batches(generator: Generator, total: int, size: int) -> Iterator[Batch]:
    """Batches built in a background thread, two ahead, while the caller writes."""
    out: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            remaining = total
            while remaining > 0 and not stop.is_set():
                count = min(size, remaining)
                out.put(generator.batch(count))
                remaining -= count
            out.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            out.put(exc)

    thread = threading.Thread(target=produce, name="seed-demo-generator", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)
        thread.join()


def new_request_id() -> str:
    """The `request_id` every audit entry of one seed-demo run carries."""
    return f"seed-demo-{uuid.uuid4()}"


def seed_demo(
    engine: sa.Engine,
    options: DemoOptions,
    lab_ids: Sequence[UUID],
    *,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    request_id: str | None = None,
) -> DemoReport:
    """Insert `options.samples` samples (with their results and audit entries) into the labs."""
    if problems := options.problems():
        raise ValueError("; ".join(problems))
    if not lab_ids:
        raise ValueError("seed_demo needs at least one lab")
    started = time.perf_counter()
    request_id = request_id or new_request_id()
    report = DemoReport(lab_ids=list(lab_ids), request_id=request_id)
    with engine.connect() as conn:
        judge = Judge.load(conn, options.margin)
    generator = Generator(options, judge, lab_ids, now or datetime.now(UTC), request_id)
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        for batch in _batches(generator, options.samples, options.batch_size):
            with pg.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 0")
                _copy(cursor, "samples", SAMPLE_COLUMNS, batch.samples)
                _copy(cursor, "test_results", RESULT_COLUMNS, batch.results)
                _copy(cursor, "audit_log", AUDIT_COLUMNS, batch.audit)
            raw.commit()  # deferred foreign keys are checked here, per batch
            report.samples += batch.sample_count
            report.results += batch.result_count
            report.audit_entries += batch.sample_count + batch.result_count
            for target, counts in (
                (report.sample_statuses, batch.sample_statuses),
                (report.result_statuses, batch.result_statuses),
            ):
                for status, n in counts.items():
                    target[status] = target.get(status, 0) + n
            if progress is not None:
                progress(batch.sample_count)
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    report.seconds = time.perf_counter() - started
    return report


def analyze(engine: sa.Engine) -> float:
    """Refresh the planner's statistics (and the visibility map) after a bulk load."""
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SET statement_timeout = 0"))
        conn.execute(sa.text("VACUUM (ANALYZE) samples, test_results"))
        conn.execute(sa.text("ANALYZE audit_log"))
        conn.execute(sa.text("RESET statement_timeout"))
    return time.perf_counter() - started


class ConcurrentSealer:
    """Chains the new audit entries while the load runs, as the server's sealer would.

    A thread calls the product's `AuditChain.seal_pending` in a loop (it only chains
    committed entries, in id order, under its advisory lock), so sealing overlaps with
    generating and copying; `finish()` runs one last pass after the load and returns how
    many entries this process sealed. Another process holding the lock (a running server)
    simply seals them instead.
    """

    def __init__(self, chain: AuditChain, interval_seconds: float = 0.5):
        self._chain = chain
        self._interval = interval_seconds
        self._done = threading.Event()
        self._error: BaseException | None = None
        self.sealed = 0
        self.finish_seconds = 0.0  # how long sealing ran on after the load
        self._thread = threading.Thread(target=self._run, name="seed-demo-sealer", daemon=True)

    def __enter__(self) -> ConcurrentSealer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                last_pass = self._done.is_set()
                self.sealed += self._chain.seal_pending()
                if last_pass:
                    return
                self._done.wait(self._interval)
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def finish(self) -> int:
        started = time.perf_counter()
        self._done.set()
        self._thread.join()
        self.finish_seconds = time.perf_counter() - started
        if self._error is not None:
            raise self._error
        return self.sealed


def pending_audit_entries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(tables.audit_pending)) or 0
