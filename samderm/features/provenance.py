"""Is the installed ``sam2`` Meta's code? Its files against sha256s recorded at the official commit.

The installable ``sam2`` distribution is a third-party upload; sam2_provenance.json records
which official commit it matched when the project pinned it, so a changed upload is noticed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from samderm.io import sha256_file

RECORD = Path(__file__).with_name("sam2_provenance.json")
CHECKED_SUFFIXES = (".py", ".yaml")


def load_record(path: str | Path = RECORD) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def installed_root(package: str = "sam2") -> Path:
    """The folder that holds the installed package (site-packages for a wheel)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).parent


def provenance_differences(record: dict[str, Any], root: str | Path, package: str = "sam2") -> list[str]:
    """One line per installed file that differs from, or is missing in, or is absent from the record."""
    root = Path(root)
    recorded: dict[str, str] = record["files"]
    installed = {
        p.relative_to(root).as_posix(): p
        for p in (root / package).rglob("*")
        if p.is_file() and p.suffix in CHECKED_SUFFIXES and "__pycache__" not in p.parts
    }
    where = f"{record['repository']} at {record['commit']}"
    problems = [f"{rel}: not in the installed package (present {where})" for rel in sorted(set(recorded) - set(installed))]
    problems += [f"{rel}: installed but not in {where}" for rel in sorted(set(installed) - set(recorded))]
    for rel in sorted(set(recorded) & set(installed)):
        actual = sha256_file(installed[rel])
        if actual != recorded[rel]:
            problems.append(f"{rel}: sha256 {actual} differs from {recorded[rel]} ({where})")
    return problems
