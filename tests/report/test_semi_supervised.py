"""The semi-supervised table: pool counts per outcome and class, and the paired difference to the
same configuration without semi-supervision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from samderm.io import read_tsv, write_tsv
from samderm.report.aggregate import ResultsError
from samderm.matrix import supervised_twin
from samderm.report.semi_supervised import semi_supervised_table, tabulate_semi_supervised

from .conftest import CLASSES

BOOTSTRAP = {"resamples": 200, "level": 0.95, "seed": 0}


def write_pools(run_dirs):
    """semi_supervised.tsv in each run: seed 0 pseudo-labels 3 MEL + 1 NV, seed 1 2 MEL; the rest gated."""
    for d in run_dirs:
        seed = int(d.name.removeprefix("seed"))
        labels = ["MEL", "MEL", "MEL", "NV"] if seed == 0 else ["MEL", "MEL"]
        outcome = ["pseudo_label"] * len(labels) + ["not_skin", "ood", "below_threshold", "over_cap"]
        write_tsv(pd.DataFrame({"image_id": [f"u{i}" for i in range(len(outcome))], "outcome": outcome,
                                "pseudo_label": labels + [""] * 4, "confidence": 0.95, "round": 1, "ood_score": 1.0}),
                  d / "semi_supervised.tsv")


def test_counts_and_the_paired_difference_to_the_supervised_twin(study):
    # exp6 stands in for a semi-supervised experiment whose twin is exp1
    semi = [d for d in study.run_dirs if "/exp6/" in str(d) and "/ensemble/" not in str(d)]
    write_pools(semi)
    table = semi_supervised_table(semi, {"exp6": "exp1"}, study.data / "manifest.tsv", CLASSES, ["macro_f1"], BOOTSTRAP)
    assert len(table) == 4 and (table["seeds"] == 2).all()
    row = table.set_index("configuration").loc["exp6/lmf/parallel/full/tiny-mean-r256"]
    assert row["supervised"] == "exp1/lmf/parallel/full/tiny-mean-r256"
    assert (row["unlabeled"], row["pseudo_labelled"], row["pseudo:MEL"], row["pseudo:NV"], row["ood"]) == (7, 3, 2.5, 0.5, 1)

    def test_f1(experiment):
        scores = []
        for seed in (0, 1):
            p = read_tsv(study.root / f"runs/{experiment}/lmf/parallel/full/tiny-mean-r256/seed{seed}/predictions.tsv")
            p = p[(p["task"] == "lesion") & (p["split"] == "test")]
            scores.append(f1_score(p["label"], p["predicted"], average="macro", zero_division=0))
        return np.mean(scores)

    assert row["macro_f1_mean"] == pytest.approx(test_f1("exp6"))
    assert row["macro_f1_vs_supervised_value"] == pytest.approx(test_f1("exp6") - test_f1("exp1"))
    # exp1/lmf/parallel predicts every lesion right (conftest): the supervised twin is clearly better
    assert row["macro_f1_vs_supervised_low"] <= row["macro_f1_vs_supervised_value"] <= row["macro_f1_vs_supervised_high"] < 0


def test_without_a_twin_in_the_matrix_only_mean_and_sd(study):
    semi = [d for d in study.run_dirs if "/exp6/wce/parallel/" in str(d)]
    write_pools(semi)
    table = semi_supervised_table(semi, {"exp6": None}, study.data / "manifest.tsv", CLASSES, ["macro_f1"], BOOTSTRAP)
    assert table.loc[0, "supervised"] == "" and "macro_f1_vs_supervised_value" not in table
    assert not np.isnan(table.loc[0, "macro_f1_std"])


def test_an_unknown_outcome_is_an_error_and_the_table_is_written(study, tmp_path):
    semi = [d for d in study.run_dirs if "/exp6/wce/parallel/" in str(d)]
    write_pools(semi)
    report = {"bootstrap": BOOTSTRAP, "claims": {"metrics": ["macro_f1", "auroc"]}}
    tabulate_semi_supervised(semi, {"exp6": "exp1"}, study.data / "manifest.tsv", tmp_path / "semi", CLASSES, report)
    assert {p.suffix for p in tmp_path.glob("semi.*")} == {".csv", ".md", ".tex", ".html"}
    bad = read_tsv(semi[0] / "semi_supervised.tsv").assign(outcome="maybe")
    write_tsv(bad, semi[0] / "semi_supervised.tsv")
    with pytest.raises(ResultsError, match="maybe"):
        semi_supervised_table(semi, {"exp6": "exp1"}, study.data / "manifest.tsv", CLASSES, ["macro_f1"], BOOTSTRAP)


def test_the_twin_is_the_experiment_with_the_same_settings_minus_semi_supervised():
    experiments = {"exp1": {"balancing": "original", "epochs": 60}, "exp2": {"balancing": "original", "epochs": 30},
                   "ssl": {"balancing": "original", "epochs": 60, "semi_supervised": {"method": "pseudo_label"}}}
    assert supervised_twin(experiments, "ssl", ["exp2", "exp1", "ssl"]) == "exp1"
    assert supervised_twin(experiments, "ssl", ["exp2", "ssl"]) is None
