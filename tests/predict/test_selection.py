"""Which run, seed, detector and threshold the bundle takes from a study's tables."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.io import write_tsv
from samderm.predict.bundle import BundleError, needs_fit_rows
from samderm.predict.study import best_run, choose_gate, run_temperature

BASE = {"experiment": "exp1", "architecture": "parallel", "crop": "full", "encoder": "tiny", "pooling": "mean",
        "resolution": 256}


def tidy(values: dict) -> pd.DataFrame:
    """runs.tsv rows: {(loss, seed): (val macro_f1, val balanced_accuracy)} of the lesion task."""
    rows = []
    for (loss, seed), (f1, bacc) in values.items():
        for metric, value in (("macro_f1", f1), ("balanced_accuracy", bacc)):
            rows.append({**BASE, "loss": loss, "seed": seed, "task": "lesion", "split": "val", "metric": metric,
                         "value": value})
            # a test value that would pick another run: selection must never read it
            rows.append({**BASE, "loss": loss, "seed": seed, "task": "lesion", "split": "test", "metric": metric,
                         "value": 1.0 - value})
    return pd.DataFrame(rows)


def test_best_configuration_on_val_mean_then_its_best_seed():
    # focal: mean 0.55 beats wce's 0.5 though wce has the single best seed
    table = tidy({("wce", 0): (0.9, 0.5), ("wce", 1): (0.1, 0.5), ("focal", 0): (0.5, 0.5), ("focal", 1): (0.6, 0.5)})
    run, why = best_run(table, "lesion", "macro_f1")
    assert (run.loss, run.seed) == ("focal", 1)
    assert why["val_macro_f1"] == pytest.approx(0.6)
    assert isinstance(run.resolution, int) and isinstance(run.seed, int)


def test_equal_seeds_go_to_the_lowest_seed():
    run, _ = best_run(tidy({("wce", 3): (0.5, 0.5), ("wce", 1): (0.5, 0.5)}), "lesion", "macro_f1")
    assert run.seed == 1


@pytest.fixture
def ood_dir(tmp_path):
    tuning = pd.DataFrame([
        {"head": "skin", "detector": "energy", "temperature": "1.0", "k": "", "val_auroc": "0.7", "chosen": "True"},
        {"head": "skin", "detector": "energy", "temperature": "10.0", "k": "", "val_auroc": "0.95", "chosen": "False"},
        {"head": "lesion", "detector": "knn", "temperature": "", "k": "5", "val_auroc": "0.8", "chosen": "True"},
        {"head": "lesion", "detector": "msp", "temperature": "", "k": "", "val_auroc": "0.8", "chosen": "True"},
    ])
    write_tsv(tuning, tmp_path / "tuning.tsv", "comment line")
    gate = pd.DataFrame([{"head": h, "detector": d, "threshold": t, "population": "ood"}
                         for h, d, t in (("skin", "energy", "-1.5"), ("lesion", "knn", "0.25"), ("lesion", "msp", "-0.4"))])
    write_tsv(gate, tmp_path / "gate.tsv")
    return tmp_path


def test_gate_is_the_chosen_row_with_highest_val_auroc_first_on_ties(ood_dir):
    # the unchosen energy row (0.95) is not a candidate; knn and msp tie at 0.8: knn comes first
    head, detector, params, threshold, _ = choose_gate(ood_dir, {})
    assert (head, detector, params, threshold) == ("lesion", "knn", {"k": 5}, 0.25)
    assert isinstance(params["k"], int)


def test_gate_named_in_the_config(ood_dir):
    assert choose_gate(ood_dir, {"head": "skin", "detector": "energy"})[:4] == ("skin", "energy", {"temperature": 1.0}, -1.5)
    with pytest.raises(BundleError, match="no chosen row"):
        choose_gate(ood_dir, {"detector": "vim"})


def test_the_bundle_takes_each_temperature_with_its_status_from_the_calibration_table():
    from samderm.matrix import Run

    rows = [{**BASE, "loss": "wce", "seed": seed, "task": task, "temperature": t, "temperature_status": status,
             "split": split, "metric": "nll", "before": 0.5, "after": 0.4}
            for seed, task, t, status in ((0, "lesion", 1.0, "val_error_free"), (0, "skin", 1.7, "fitted"),
                                          (1, "lesion", 0.8, "fitted")) for split in ("val", "test")]
    calibration = pd.DataFrame(rows)
    run = Run(**{**BASE, "loss": "wce", "seed": 0})
    assert run_temperature(calibration, run, "lesion") == (1.0, "val_error_free")
    assert run_temperature(calibration, run, "skin") == (1.7, "fitted")
    assert run_temperature(calibration, run, "malignancy") == (None, None)


def test_only_feature_detectors_keep_fit_rows():
    assert [d for d in ("msp", "odin", "energy", "maxlogit", "gen") if needs_fit_rows(d)] == []
    assert all(needs_fit_rows(d) for d in ("mahalanobis", "relative_mahalanobis", "knn", "vim"))


def test_held_out_class_experiments_are_never_bundled(tmp_path):
    from samderm.predict.study import bundle_study

    tables = tmp_path / "results" / "tables"
    tables.mkdir(parents=True)
    table = tidy({("wce", 0): (0.5, 0.5)})
    write_tsv(table.assign(experiment="open"), tables / "runs.tsv")
    write_tsv(pd.DataFrame(columns=["experiment", "loss", "architecture", "crop", "encoder", "pooling", "resolution",
                                    "seed", "task", "temperature", "temperature_status", "split", "metric", "before", "after"]),
              tables / "calibration_runs.tsv")
    config = {"architectures": {"parallel": {"type": "parallel"}}, "report": {"selection_metric": "macro_f1"},
              "experiments": {"open": {"held_out_classes": ["DF"]}}, "ood": {"architectures": ["parallel"]},
              "predict": {"models": {t: "open/wce/parallel/full/tiny-mean-r256/seed0" for t in ("skin", "malignancy")}}}
    # the only runs are held out: nothing to choose the lesion head from
    with pytest.raises(BundleError, match="no lesion rows"):
        bundle_study(config, tmp_path / "models", tmp_path / "results")
