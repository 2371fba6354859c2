"""The summary tables beside probes: the majority baseline's row in the best-model and loss tables,
the MLP-vs-probes table per encoder, and the collapse flag."""

from __future__ import annotations

import pandas as pd

from samderm.report.aggregate import RUN_KEYS
from samderm.report.summaries import classification_tables

TYPES = {"parallel": "parallel", "linear_probe": "linear_probe", "majority": "majority"}
# (experiment, loss, architecture, encoder): val macro-F1, test macro-F1, test collapsed
RUNS = {
    ("exp1", "wce", "parallel", "tiny"): (0.60, 0.55, 0.0),
    ("exp1", "focal", "parallel", "tiny"): (0.50, 0.70, 0.0),
    ("exp1", "none", "linear_probe", "tiny"): (0.65, 0.50, 0.0),
    ("exp1", "none", "majority", "tiny"): (0.10, 0.12, 1.0),
    ("exp1", "wce", "parallel", "vit"): (0.40, 0.45, 0.0),
    ("exp1", "none", "linear_probe", "vit"): (0.30, 0.35, 1.0),
    ("exp1", "none", "majority", "vit"): (0.10, 0.11, 1.0),
}


def _tidy() -> pd.DataFrame:
    rows = []
    for (exp, loss, arch, encoder), (val, test, collapsed) in RUNS.items():
        run = dict(zip(RUN_KEYS, [exp, loss, arch, "full", encoder, "mean", 256, 0]))
        for split, value in (("val", val), ("test", test)):
            for metric in ("macro_f1", "accuracy", "balanced_accuracy"):
                rows.append({**run, "task": "lesion", "split": split, "metric": metric, "value": value})
        rows.append({**run, "task": "lesion", "split": "test", "metric": "collapsed", "value": collapsed})
    return pd.DataFrame(rows)


def test_the_best_model_is_chosen_among_probes_too_and_the_majority_row_is_its_baseline():
    tables = classification_tables(_tidy(), "macro_f1", architecture_types=TYPES)
    best = tables["best_models"][0]
    assert best[["architecture", "encoder", "role", "collapsed"]].values.tolist() == [
        ["linear_probe", "tiny", "best", "no"], ["majority", "tiny", "baseline", "yes"]]
    losses = tables["losses"][0]
    assert set(losses["loss"]) == {"wce", "focal", "none"}
    assert losses.loc[losses["loss"] == "none", ["architecture", "role"]].values.tolist() == [["majority", "baseline"]]


def test_the_probe_table_has_the_best_mlp_and_each_probe_per_encoder():
    table = classification_tables(_tidy(), "macro_f1", architecture_types=TYPES)["probes"][0]
    got = {(r.encoder, r.head): (r.loss, r.macro_f1_mean, r.collapsed) for r in table.itertuples()}
    assert got == {("tiny", "MLP"): ("wce", 0.55, "no"),  # chosen on val (0.60), not test (focal's 0.70)
                   ("tiny", "linear_probe"): ("none", 0.50, "no"), ("tiny", "majority"): ("none", 0.12, "yes"),
                   ("vit", "MLP"): ("wce", 0.45, "no"), ("vit", "linear_probe"): ("none", 0.35, "yes"),
                   ("vit", "majority"): ("none", 0.11, "yes")}


def test_without_collapse_rows_the_tables_have_no_collapse_column():
    tidy = _tidy()
    tables = classification_tables(tidy[tidy["metric"] != "collapsed"], "macro_f1", architecture_types=TYPES)
    assert all("collapsed" not in table.columns for table, _, _ in tables.values())
