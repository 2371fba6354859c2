"""Who is in the picture: sex, age, anatomical site and Fitzpatrick type of each image, in one spelling
for every source (the manifest's subgroup columns; ``subgroups`` in the config names which to report).

Sources name these differently (ISIC: ``sex, age_approx, anatom_site_general``; HAM10000: ``sex, age,
localization``; PAD-UFES-20: ``gender, age, region, fitspatrick`` (sic); a labelled folder: any of these
names). The values are spelled alike: sex ``female``/``male``, age a number, the site lower case with
``_`` for spaces, the Fitzpatrick type ``I``-``VI``; anything unknown is ""."""

from __future__ import annotations

import math
from typing import Mapping

METADATA_COLUMNS = ("sex", "age", "site", "fitzpatrick")
# the source column names each one is read from, first match wins (adapters keep them as meta_<name>)
CANDIDATES = {
    "sex": ("sex", "gender"),
    "age": ("age", "age_approx"),
    "site": ("anatom_site_general", "localization", "region", "site"),
    "fitzpatrick": ("fitzpatrick", "fitspatrick", "fitzpatrick_type"),
}
ROMAN = ("I", "II", "III", "IV", "V", "VI")
UNKNOWN = {"", "nan", "none", "null", "unknown", "na", "n/a", "?"}


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def normalise(column: str, value) -> str:
    """One spelling of ``column``'s value ("" when unknown or not readable as that column)."""
    text = str(value if value is not None else "").strip()
    if text.lower() in UNKNOWN:
        return ""
    if column == "sex":
        return {"female": "female", "f": "female", "male": "male", "m": "male"}.get(text.lower(), "")
    if column == "age":
        number = _number(text)
        return f"{number:g}" if number is not None and 0 <= number < 130 else ""
    if column == "site":
        return "_".join(text.lower().replace("/", " ").split())
    number = _number(text)  # fitzpatrick: 1-6, 1.0-6.0 or I-VI
    if number is not None:
        return ROMAN[int(number) - 1] if number == int(number) and 1 <= number <= 6 else ""
    return text.upper() if text.upper() in ROMAN else ""


def subject_metadata(values: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """The four columns from a row's own columns (``prefix`` "meta_" for an adapter's table)."""
    out = {}
    for column in METADATA_COLUMNS:
        found = next((values[prefix + name] for name in CANDIDATES[column] if prefix + name in values), "")
        out[column] = normalise(column, found)
    return out
