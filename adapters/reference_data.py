"""WHO and NM 03.7.001 reference data, as seeded by migration 0002.

One list for both storages: migration 0002 inserts it into PostgreSQL, and the
in-memory storage starts from it. `source` says where each value comes from, and
says so plainly where it is not confirmed from the standard's own text. Labs correct
values through `PUT /standards/{code}/limits/{parameter}` (audited); a change to
these lists needs a new migration.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

SEEDED_AT = datetime(2026, 11, 21, tzinfo=UTC)
NAMESPACE = uuid.UUID("8f2b8f0e-6a52-4b8e-9f3e-5b3b1b7f0a11")  # stable parameter ids

WHO = "WHO-GDWQ-2022"
NM = "NM-03.7.001-2006"

# code, name, canonical unit, kind, plausible min, plausible max
PARAMETERS: list[tuple[str, str, str, str, float, float]] = [
    ("ph", "pH", "pH", "numeric", 0, 14),
    ("turbidity", "Turbidity", "NTU", "numeric", 0, 10000),
    ("conductivity", "Electrical conductivity (20 °C)", "µS/cm", "numeric", 0, 200000),
    ("temperature", "Temperature", "°C", "numeric", -5, 100),
    ("nitrate", "Nitrate (as NO3-)", "mg/L", "numeric", 0, 5000),
    ("nitrite", "Nitrite (as NO2-)", "mg/L", "numeric", 0, 1000),
    ("ammonium", "Ammonium (as NH4+)", "mg/L", "numeric", 0, 1000),
    ("chloride", "Chloride", "mg/L", "numeric", 0, 100000),
    ("sulfate", "Sulfate", "mg/L", "numeric", 0, 100000),
    ("fluoride", "Fluoride", "mg/L", "numeric", 0, 1000),
    ("iron", "Iron", "mg/L", "numeric", 0, 1000),
    ("manganese", "Manganese", "mg/L", "numeric", 0, 1000),
    ("free_chlorine", "Free residual chlorine", "mg/L", "numeric", 0, 100),
    ("arsenic", "Arsenic", "µg/L", "numeric", 0, 100000),
    ("lead", "Lead", "µg/L", "numeric", 0, 100000),
    ("cadmium", "Cadmium", "µg/L", "numeric", 0, 100000),
    ("mercury", "Mercury", "µg/L", "numeric", 0, 100000),
    ("chromium", "Chromium (total)", "µg/L", "numeric", 0, 100000),
    ("e_coli", "Escherichia coli", "CFU/100mL", "presence_absence", 0, 1),
    ("total_coliforms", "Total coliform bacteria", "CFU/100mL", "presence_absence", 0, 1),
    ("enterococci", "Intestinal enterococci", "CFU/100mL", "presence_absence", 0, 1),
]

WHO_TEXT = "WHO GDWQ 4th ed. incorporating the 1st and 2nd addenda (2022)"
NOT_CONFIRMED = "NOT CONFIRMED from the standard's own text; verify and correct through the API"
NM_TEXT = "NM 03.7.001 (2006), valeur maximale admissible (VMA)"
NM_SECONDARY = f"{NM_TEXT}; value from secondary sources (ONEE, published studies)"

# standard, parameter, min, max, recommended_max, basis, source
LIMITS: list[tuple[str, str, float | None, float | None, float | None, str, str]] = [
    (
        WHO,
        "ph",
        6.5,
        8.5,
        None,
        "operational",
        f"{WHO_TEXT}: no health-based value; 6.5 to 8.5 operational range",
    ),
    (
        WHO,
        "turbidity",
        None,
        5,
        None,
        "aesthetic",
        f"{WHO_TEXT}: no health-based value; above 5 NTU noticeable; < 1 NTU advised for disinfection. {NOT_CONFIRMED}",
    ),
    (
        WHO,
        "nitrate",
        None,
        50,
        None,
        "health",
        f"{WHO_TEXT}: guideline value 50 mg/L as NO3- (short-term exposure)",
    ),
    (
        WHO,
        "nitrite",
        None,
        3,
        None,
        "health",
        f"{WHO_TEXT}: guideline value 3 mg/L as NO2- (short-term exposure)",
    ),
    (
        WHO,
        "ammonium",
        None,
        1.5,
        None,
        "aesthetic",
        f"{WHO_TEXT}: no health-based value; odour threshold about 1.5 mg/L (as NH3). {NOT_CONFIRMED}",
    ),
    (
        WHO,
        "chloride",
        None,
        250,
        None,
        "aesthetic",
        f"{WHO_TEXT}: no health-based value; taste threshold 200 to 300 mg/L. {NOT_CONFIRMED}",
    ),
    (
        WHO,
        "sulfate",
        None,
        250,
        None,
        "aesthetic",
        f"{WHO_TEXT}: no health-based value; taste noticeable above about 250 mg/L. {NOT_CONFIRMED}",
    ),
    (WHO, "fluoride", None, 1.5, None, "health", f"{WHO_TEXT}: guideline value 1.5 mg/L"),
    (
        WHO,
        "iron",
        None,
        0.3,
        None,
        "aesthetic",
        f"{WHO_TEXT}: no health-based value; taste and staining above about 0.3 mg/L. {NOT_CONFIRMED}",
    ),
    (
        WHO,
        "manganese",
        None,
        0.08,
        None,
        "health",
        f"{WHO_TEXT}: health-based value 80 µg/L (2022)",
    ),
    (
        WHO,
        "free_chlorine",
        None,
        5,
        None,
        "health",
        f"{WHO_TEXT}: guideline value for chlorine 5 mg/L. {NOT_CONFIRMED}",
    ),
    (WHO, "arsenic", None, 10, None, "health", f"{WHO_TEXT}: provisional guideline value 10 µg/L"),
    (WHO, "lead", None, 10, None, "health", f"{WHO_TEXT}: provisional guideline value 10 µg/L"),
    (WHO, "cadmium", None, 3, None, "health", f"{WHO_TEXT}: guideline value 3 µg/L"),
    (
        WHO,
        "mercury",
        None,
        6,
        None,
        "health",
        f"{WHO_TEXT}: guideline value 6 µg/L (inorganic mercury)",
    ),
    (
        WHO,
        "chromium",
        None,
        50,
        None,
        "health",
        f"{WHO_TEXT}: provisional guideline value 50 µg/L (total chromium)",
    ),
    (
        WHO,
        "e_coli",
        None,
        0,
        None,
        "health",
        f"{WHO_TEXT}: must not be detectable in any 100 mL sample",
    ),
    (
        WHO,
        "total_coliforms",
        None,
        0,
        None,
        "operational",
        f"{WHO_TEXT}: indicator of treatment efficacy, not a health-based value. {NOT_CONFIRMED}",
    ),
    (
        WHO,
        "enterococci",
        None,
        0,
        None,
        "health",
        f"{WHO_TEXT}: faecal indicator; should not be detectable in 100 mL. {NOT_CONFIRMED}",
    ),
    (NM, "ph", 6.5, 8.5, None, "operational", NM_SECONDARY),
    (NM, "turbidity", None, 5, 1, "aesthetic", f"{NM_SECONDARY}; VMR 1 NTU {NOT_CONFIRMED}"),
    (NM, "conductivity", None, 2700, None, "aesthetic", NM_SECONDARY),
    (NM, "temperature", None, 25, None, "aesthetic", NM_SECONDARY),
    (NM, "nitrate", None, 50, None, "health", NM_SECONDARY),
    (NM, "nitrite", None, 0.5, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "ammonium", None, 0.5, None, "aesthetic", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "chloride", None, 750, 300, "aesthetic", f"{NM_SECONDARY}; VMR 300 mg/L {NOT_CONFIRMED}"),
    (NM, "sulfate", None, 400, 200, "aesthetic", f"{NM_SECONDARY}; VMR 200 mg/L {NOT_CONFIRMED}"),
    (NM, "fluoride", None, 1.5, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "iron", None, 0.3, None, "aesthetic", NM_SECONDARY),
    (NM, "manganese", None, 0.5, 0.1, "health", f"{NM_TEXT}; VMR 0.1 mg/L. {NOT_CONFIRMED}"),
    (
        NM,
        "free_chlorine",
        None,
        1,
        None,
        "operational",
        f"{NM_TEXT}: residual chlorine. {NOT_CONFIRMED}",
    ),
    (NM, "arsenic", None, 10, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "lead", None, 10, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "cadmium", None, 3, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "mercury", None, 1, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "chromium", None, 50, None, "health", f"{NM_TEXT}. {NOT_CONFIRMED}"),
    (NM, "e_coli", None, 0, None, "health", f"{NM_TEXT}: 0 per 100 mL. {NOT_CONFIRMED}"),
    (NM, "total_coliforms", None, 0, None, "health", f"{NM_TEXT}: 0 per 100 mL. {NOT_CONFIRMED}"),
    (NM, "enterococci", None, 0, None, "health", f"{NM_TEXT}: 0 per 100 mL. {NOT_CONFIRMED}"),
]

STANDARDS: list[tuple[str, str, str, str]] = [
    (
        WHO,
        "WHO Guidelines for Drinking-water Quality, 4th edition with addenda (2022)",
        "guideline",
        "Health-based guideline values fail; aesthetic and operational values warn.",
    ),
    (
        NM,
        "NM 03.7.001 — Moroccan drinking-water quality standard (2006)",
        "regulation",
        "Valeurs maximales admissibles (VMA) are binding: exceeding one fails. "
        "Valeurs maximales recommandées (VMR) warn.",
    ),
]


def parameter_id(code: str) -> uuid.UUID:
    """Stable ids, so every installation names the same parameter the same way."""
    return uuid.uuid5(NAMESPACE, code)


def parameter_rows() -> list[dict[str, object]]:
    return [
        {
            "id": parameter_id(code),
            "code": code,
            "name": name,
            "unit": unit,
            "kind": kind,
            "min_value": low,
            "max_value": high,
            "created_at": SEEDED_AT,
            "updated_at": SEEDED_AT,
            "version": 1,
        }
        for code, name, unit, kind, low, high in PARAMETERS
    ]


def standard_rows() -> list[dict[str, object]]:
    return [{"code": c, "name": n, "kind": k, "description": d} for c, n, k, d in STANDARDS]


def limit_rows() -> list[dict[str, object]]:
    return [
        {
            "standard_code": std,
            "parameter_code": param,
            "min": low,
            "max": high,
            "recommended_max": recommended,
            "basis": basis,
            "source": source,
            "updated_at": SEEDED_AT,
            "version": 1,
        }
        for std, param, low, high, recommended, basis, source in LIMITS
    ]
