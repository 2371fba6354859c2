"""The label-efficiency table and figure from a hand-made runs table."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from samderm.io import write_tsv
from samderm.report.aggregate import TIDY_COLUMNS
from samderm.report.label_efficiency import (METRICS, label_efficiency, label_efficiency_table,
                                             label_fraction_families, plot_label_efficiency)
from samderm.report.tables import table_paths

BASE = {"balancing": "original", "epochs": 60, "lr": 0.001}
EXPERIMENTS = {
    "exp1": dict(BASE),
    "exp1_lf10": {**BASE, "label_fraction": 0.1},
    "exp1_lf01": {**BASE, "label_fraction": 0.01},
    "exp6": {**BASE, "balancing": "smart"},  # no other fraction: no family
    "exp6_lf10": {**BASE, "balancing": "smart", "epochs": 30, "label_fraction": 0.1},  # differs in epochs too
    "exp1_ssl": {**BASE, "semi_supervised": {"method": "pseudo_label"}},
    "exp1_explicit": {**BASE, "label_fraction": 1.0},  # the same as exp1: exp1 counts
}
FRACTION = {"exp1": 1.0, "exp1_lf10": 0.1, "exp1_lf01": 0.01}


def value(experiment, loss, crop, seed, split, metric):
    """Test values rise with the fraction; on val, wce/full wins at fraction 1 and focal/lesion below it."""
    f = FRACTION.get(experiment, 0.5)
    if split == "val":
        good = (loss, crop) == (("wce", "full") if f == 1.0 else ("focal", "lesion"))
        return 0.8 if good else 0.4
    return 0.5 * f + 0.1 * seed + (0.01 if loss == "focal" else 0.0) + (0.02 if crop == "lesion" else 0.0) + \
        0.001 * METRICS.index(metric)


def tidy(experiments=("exp1", "exp1_lf10", "exp1_lf01", "exp6", "exp6_lf10", "exp1_ssl")) -> pd.DataFrame:
    rows = []
    for exp, loss, crop, seed, split, metric in itertools.product(
            experiments, ("wce", "focal"), ("full", "lesion"), (0, 1), ("val", "test"), METRICS):
        rows.append({"experiment": exp, "loss": loss, "architecture": "parallel", "crop": crop, "encoder": "tiny",
                     "pooling": "cls", "resolution": 256, "seed": seed, "task": "lesion", "split": split,
                     "metric": metric, "value": value(exp, loss, crop, seed, split, metric)})
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def test_families_differ_only_in_label_fraction():
    assert label_fraction_families(EXPERIMENTS) == {"exp1": {"exp1_lf01": 0.01, "exp1_lf10": 0.1, "exp1": 1.0}}
    # only experiments of the matrix count: one fraction left is no family
    assert label_fraction_families(EXPERIMENTS, ["exp1", "exp6", "exp6_lf10"]) == {}
    assert label_fraction_families(EXPERIMENTS, ["exp1_lf10", "exp1_lf01"]) == \
        {"exp1_lf10": {"exp1_lf01": 0.01, "exp1_lf10": 0.1}}
    assert label_fraction_families(EXPERIMENTS, ["exp1_explicit", "exp1_lf10"]) == \
        {"exp1_explicit": {"exp1_lf10": 0.1, "exp1_explicit": 1.0}}


def test_table_means_over_seeds_and_a_curve_per_configuration():
    table = label_efficiency_table(tidy(), EXPERIMENTS)
    assert set(table["experiment"]) == {"exp1", "exp1_lf10", "exp1_lf01"}
    assert set(table["family"]) == {"exp1"}
    assert len(table) == 3 * 4  # fractions x (loss, crop)
    assert (table["n_seeds"] == 2).all()
    for row in table.to_dict("records"):
        for metric in METRICS:
            expected = value(row["experiment"], row["loss"], row["crop"], 0, "test", metric) + 0.05  # seeds 0, 1
            assert row[f"{metric}_mean"] == pytest.approx(expected)
            assert row["label_fraction"] == FRACTION[row["experiment"]]
    assert table["curve"].all()  # every (loss, crop) runs at the three fractions
    # a configuration at one fraction only (wce/full left out of the 0.1 and 0.01 runs) is no curve
    runs = tidy()
    one_fraction = runs[~((runs["experiment"] != "exp1") & (runs["loss"] == "wce") & (runs["crop"] == "full"))]
    table = label_efficiency_table(one_fraction, EXPERIMENTS)
    lonely = table[~table["curve"]]
    assert lonely[["experiment", "loss", "crop"]].values.tolist() == [["exp1", "wce", "full"]]


def test_no_family_gives_empty_table():
    table = label_efficiency_table(tidy(("exp1", "exp6")), EXPERIMENTS)
    assert table.empty and "macro_f1_mean" in table.columns


def test_figure_and_table_written(tmp_path):
    runs = tmp_path / "runs.tsv"
    write_tsv(tidy(), runs)
    png, svg = tmp_path / "label_efficiency.png", tmp_path / "label_efficiency.svg"
    table = label_efficiency(runs, EXPERIMENTS, png, svg, tmp_path / "label_efficiency")
    assert png.stat().st_size > 0
    assert "fraction of train lesion groups" in svg.read_text()
    assert all(p.is_file() for p in table_paths(tmp_path / "label_efficiency").values())
    assert len(pd.read_csv(tmp_path / "label_efficiency.csv")) == len(table) == 12


def test_no_family_figure_says_so(tmp_path, caplog):
    runs = tmp_path / "runs.tsv"
    write_tsv(tidy(("exp1", "exp6")), runs)
    png, svg = tmp_path / "le.png", tmp_path / "le.svg"
    with caplog.at_level("INFO"):
        table = label_efficiency(runs, EXPERIMENTS, png, svg, tmp_path / "le")
    assert table.empty and png.stat().st_size > 0
    assert "No label-efficiency curve" in svg.read_text()
    assert "no experiment family with two label fractions" in caplog.text
    assert "nothing to compare" in (tmp_path / "le.md").read_text()


def test_plot_of_empty_table(tmp_path):
    plot_label_efficiency(pd.DataFrame(columns=["curve"]), tmp_path / "x.png")
    assert (tmp_path / "x.png").is_file()
