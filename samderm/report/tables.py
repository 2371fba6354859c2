"""One table, four files: CSV (the numbers), Markdown, LaTeX (booktabs) and HTML (shown inline
in the report). ``{metric}_mean`` / ``{metric}_std`` column pairs print as one "mean ± std" cell, and
``{metric}_value`` / ``_low`` / ``_high`` triples as one "value [low, high]" cell (a bootstrap interval)."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from samderm.io import atomic_path

FORMATS = ("csv", "md", "tex", "html")
HEADERS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced acc.",
    "macro_f1": "macro-F1",
    "auroc": "AUROC",
    "aupr_in": "AUPR-In",
    "aupr_out": "AUPR-Out",
    "id_flagged_at_95_ood_caught": "ID flagged @95% OOD caught",
    "ood_accepted_at_95_id_accepted": "OOD accepted @95% ID accepted",
    "n_seeds": "seeds",
    "temperature": "T",
    "difference": "difference",
    **{f"{m}_{stage}": f"{label}, {stage} T" for m, label in (("ece_width", "ECE (width)"), ("ece_mass", "ECE (mass)"),
                                                             ("nll", "NLL"), ("brier", "Brier"))
       for stage in ("before", "after")},
}
INTERVAL_PARTS = ("value", "low", "high")
HTML_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.7em; text-align: right; white-space: nowrap; }
th { border-bottom: 2px solid #444; } tr:nth-child(even) td { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
p.note { max-width: 60em; color: #444; }
"""


def table_paths(stem: str | Path) -> dict[str, Path]:
    """The four files of the table ``stem`` (a path without suffix)."""
    return {fmt: Path(f"{stem}.{fmt}") for fmt in FORMATS}


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def display_frame(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Text cells for reading: numbers rounded, mean/std pairs joined, headers made readable."""
    shown = {}
    for column in table.columns:
        if column.endswith("_std") and f"{column[:-4]}_mean" in table.columns:
            continue
        stem, _, part = column.rpartition("_")
        if part in INTERVAL_PARTS and all(f"{stem}_{p}" in table.columns for p in INTERVAL_PARTS):
            if part == "value":
                shown[f"{HEADERS.get(stem, stem)} [interval]"] = [
                    _cell(v, digits) + ("" if _cell(lo, digits) == _cell(hi, digits) == "" else
                                        f" [{_cell(lo, digits)}, {_cell(hi, digits)}]")  # no interval: none shown
                    for v, lo, hi in zip(*(table[f"{stem}_{p}"] for p in INTERVAL_PARTS))]
            continue
        if column.endswith("_mean") and f"{column[:-5]}_std" in table.columns:
            name = column[:-5]
            shown[HEADERS.get(name, name)] = [
                _cell(m, digits) + ("" if isinstance(s, float) and math.isnan(s) else f" ± {_cell(s, digits)}")
                for m, s in zip(table[column], table[f"{name}_std"])
            ]
        else:
            shown[HEADERS.get(column, column)] = [_cell(v, digits) for v in table[column]]
    return pd.DataFrame(shown, columns=list(shown))


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _escape_latex(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def _latex(shown: pd.DataFrame, title: str, note: str) -> str:
    styler = shown.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    caption = _escape_latex(f"{title}. {note}" if note else title)
    tex = styler.to_latex(hrules=True, environment="table", position_float="centering", caption=caption,
                          column_format="l" * shown.shape[1])
    return tex.replace("±", r"$\pm$")


def _html(shown: pd.DataFrame, title: str, note: str) -> str:
    body = shown.to_html(index=False, border=0, escape=True)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{HTML_STYLE}</style></head>\n<body><h3>{html.escape(title)}</h3>\n"
            f'<p class="note">{html.escape(note)}</p>\n{body}\n</body></html>\n')


def _markdown(shown: pd.DataFrame, title: str, note: str) -> str:
    return f"**{title}**\n\n{note}\n\n{shown.to_markdown(index=False, disable_numparse=True)}\n"


def write_table(table: pd.DataFrame, stem: str | Path, title: str, note: str = "", digits: int = 3) -> dict[str, Path]:
    """Write ``stem``.csv/.md/.tex/.html; the CSV keeps full precision and separate mean/std columns."""
    paths = table_paths(stem)
    shown = display_frame(table, digits)
    texts = {"md": _markdown(shown, title, note), "tex": _latex(shown, title, note), "html": _html(shown, title, note)}
    with atomic_path(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    for fmt, text in texts.items():
        with atomic_path(paths[fmt]) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    return paths
