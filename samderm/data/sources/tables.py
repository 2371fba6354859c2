"""The pieces every dataset reader shares, written once: the strict CSV reader (also behind
``samderm.data.isic``), one-hot labels and the challenges' optional weight columns, a folder's
``.jpg`` files, the ``meta_`` column names, and
``assemble``, which builds the ``SOURCE_COLUMNS`` + ``meta_*`` table with the duplicate-id guard.

Row numbers are lines of the file: the header is row 1, so the first data row is row 2 (a row is
numbered by the line it starts on; blank lines are skipped but counted).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from samderm.data.sources import SOURCE_COLUMNS

# the spellings of 1 and 0 in the ISIC challenges' one-hot ground-truth files
ONE, ZERO = {"1", "1.0", "1.00"}, {"0", "0.0", "0.00"}
# optional columns of the challenges' ground-truth files (read by isic-challenge-scoring); kept as meta_
WEIGHT_COLUMNS = ("score_weight", "validation_weight")


def _delimiter(first_line: str) -> str:
    """Tab when the header line has tabs and no comma (Harvard Dataverse serves HAM10000's
    metadata tab-separated), else comma."""
    return "\t" if "\t" in first_line and "," not in first_line else ","


def csv_header(path: str | Path) -> list[str]:
    """The header of a comma or tab separated file, names stripped ([] for an empty file)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
    return [h.strip() for h in next(csv.reader([first], delimiter=_delimiter(first)), [])]


def read_csv(path: str | Path, required: Iterable[str], what: str, id_column: str | None = None,
             unique: bool = True) -> pd.DataFrame:
    """The CSV as a table of stripped strings ("" for missing), its columns the header (stripped),
    its index the row numbers (named ``row``). Comma or tab separated, ``utf-8-sig``.

    Refused, naming the file (and the row where there is one): no file (``what`` names the layout
    in the message), a column twice in the header, a ``required`` column missing, a row with more
    or fewer fields than the header; with ``id_column``, a row whose id is empty and (``unique``)
    an id on two rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (expected in the {what} layout)")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_delimiter(first))
        header = [h.strip() for h in next(reader, [])]
        twice = sorted(c for c, n in Counter(header).items() if n > 1)
        if twice:
            raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; header is {header}")
        numbers: list[int] = []
        records: list[list[str]] = []
        start = reader.line_num + 1
        for fields in reader:
            row, start = start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if len(fields) != len(header):
                raise ValueError(f"{path} row {row}: {len(fields)} field(s), the header has {len(header)}")
            numbers.append(row)
            records.append([v.strip() for v in fields])
    table = pd.DataFrame(records, columns=header, index=pd.Index(numbers, name="row"), dtype=object)
    if id_column is not None:
        _check_ids(path, table, id_column, unique)
    return table


def _check_ids(path: Path, table: pd.DataFrame, id_column: str, unique: bool) -> None:
    empty = table.index[table[id_column] == ""].tolist()
    if empty:
        more = f" (also rows {empty[1:]})" if len(empty) > 1 else ""
        raise ValueError(f"{path} row {empty[0]}: empty image id in column {id_column!r}{more}")
    if not unique:
        return
    rows: dict[str, list[int]] = {}
    for row, image in table[id_column].items():
        rows.setdefault(image, []).append(row)
    twice = {image: r for image, r in rows.items() if len(r) > 1}
    if twice:
        image, r = next(iter(twice.items()))
        raise ValueError(f"{path}: image id {image} listed {len(r)} times (rows {r})"
                         + (f"; {len(twice) - 1} more id(s) listed twice" if len(twice) > 1 else ""))


def one_hot(values: dict[str, str]) -> tuple[str | None, str]:
    """(the class column holding the 1, "") for a one-hot row (class -> value), else (None, why not):
    a value other than 0/1, or not exactly one 1."""
    odd = {c: v for c, v in values.items() if v not in ONE | ZERO}
    if odd:
        return None, f"not a 0/1 value in {odd}"
    hot = [c for c, v in values.items() if v in ONE]
    if len(hot) != 1:
        return None, f"{'no class' if not hot else f'{len(hot)} classes {hot}'} (one-hot label expected)"
    return hot[0], ""


def one_hot_labels(path: Path, table: pd.DataFrame, classes: Sequence[str]) -> list[str]:
    """Per row of a ``read_csv`` table, the class column holding the 1; refuses (naming file and
    row) a value other than 0/1 or not exactly one 1."""
    labels = []
    for row, values in zip(table.index, table[list(classes)].itertuples(index=False)):
        label, why = one_hot(dict(zip(classes, values)))
        if label is None:
            raise ValueError(f"{path} row {row}: {why}")
        labels.append(label)
    return labels


def read_one_hot(path: Path, classes: Sequence[str], what: str) -> tuple[pd.DataFrame, list[str]]:
    """(table, per row the class holding the 1) of a challenge's one-hot ground truth:
    ``image``, ``classes`` and optionally ``WEIGHT_COLUMNS``; another column is refused."""
    table = read_csv(path, ("image", *classes), what, id_column="image")
    unknown = [c for c in table.columns if c not in ("image", *classes, *WEIGHT_COLUMNS)]
    if unknown:
        raise ValueError(f"{path}: unknown column(s) {unknown}; expected image, {list(classes)} "
                         f"and optionally {list(WEIGHT_COLUMNS)}")
    return table, one_hot_labels(path, table, classes)


def image_files(folder: Path) -> dict[str, Path]:
    """image id -> ``.jpg`` file directly in ``folder`` ({} when it does not exist); the challenge
    zips also hold ATTRIBUTION.txt and LICENSE.txt, which are not images."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() == ".jpg" and not p.name.startswith(".")}


def meta_name(column: str, position: int) -> str:
    """``meta_<column>``; a nameless column (a saved pandas index) is ``meta_unnamed_<position>``."""
    return f"meta_{column}" if column else f"meta_unnamed_{position}"


def assemble(entries: list[dict[str, str]], dataset: str, meta_columns: Sequence[str] = ()) -> pd.DataFrame:
    """One row per entry: ``SOURCE_COLUMNS`` then the ``meta_`` columns (``meta_columns`` first, then
    any other in order of first appearance), every value a string, "" where an entry has none.

    An entry holds the SOURCE_COLUMNS it knows, ``meta_*`` values, and ``where`` (file and row, or
    ``file <path>``) for the message when two entries share an ``image_id``, which is refused.
    ``dataset`` is set on every row; an empty ``lesion_id`` becomes ``solo_{image_id}``.
    """
    seen: dict[str, str] = {}
    meta = list(meta_columns)
    for entry in entries:
        odd = [k for k in entry if k not in SOURCE_COLUMNS and k != "where" and not k.startswith("meta_")]
        if odd:
            raise ValueError(f"assemble: unknown key(s) {odd} in the entry for {entry.get('where', '?')}")
        image = entry["image_id"]
        if image in seen:
            raise ValueError(f"image id {image} appears twice: {seen[image]} and {entry.get('where', '?')}")
        seen[image] = entry.get("where", "?")
        meta += [k for k in entry if k.startswith("meta_") and k not in meta]
    columns = list(SOURCE_COLUMNS) + meta
    rows = []
    for entry in entries:
        row = {c: entry.get(c, "") for c in columns}
        row["dataset"] = dataset
        row["lesion_id"] = row["lesion_id"] or f"solo_{row['image_id']}"
        rows.append(row)
    return pd.DataFrame(rows, columns=columns, dtype=object)
