import numpy as np
import pandas as pd
import pytest

from samderm.io import read_tsv
from samderm.report.aggregate import ResultsError, aggregate_ood, aggregate_runs
from samderm.report.summaries import (source_counts, tabulate_classification, tabulate_data, tabulate_features,
                                      tabulate_ood)
from samderm.report.tables import write_table
from tests.report.conftest import CLASSES, LABELS, VAL_BEST


def test_one_table_in_four_formats_with_mean_and_spread(tmp_path):
    table = pd.DataFrame({"task": ["lesion_x"], "macro_f1_mean": [0.61234], "macro_f1_std": [0.0123], "n_seeds": [3]})
    out = write_table(table, tmp_path / "t", "Best & worst", "chosen on val")
    assert pd.read_csv(out["csv"]).equals(table)
    assert "0.612 ± 0.012" in out["md"].read_text()
    tex = out["tex"].read_text()
    assert r"\toprule" in tex and r"0.612 $\pm$ 0.012" in tex and r"lesion\_x" in tex and r"Best \& worst" in tex
    assert "<td>0.612 ± 0.012</td>" in out["html"].read_text()


def test_classification_tables_agree_with_the_runs(study, tmp_path):
    tidy = aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    tabulate_classification(tmp_path / "runs.tsv", tmp_path, "macro_f1")
    best = pd.read_csv(tmp_path / "best_models.csv").set_index("task")
    assert tuple(best.loc["lesion", ["experiment", "loss", "architecture"]]) == VAL_BEST
    assert list(best.index) == ["skin", "lesion", "malignancy"]
    archs = pd.read_csv(tmp_path / "architectures.csv")
    assert len(archs) == 2 * 3 * 3
    row = archs[(archs["experiment"] == "exp6") & (archs["task"] == "skin") & (archs["architecture"] == "ensemble")].iloc[0]
    values = tidy[(tidy["experiment"] == "exp6") & (tidy["task"] == "skin") & (tidy["architecture"] == "ensemble")
                  & (tidy["loss"] == row["loss"]) & (tidy["split"] == "test") & (tidy["metric"] == "accuracy")]["value"]
    assert row["accuracy_mean"] == pytest.approx(values.mean())
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert set(losses.columns) >= {"macro_f1_mean", "accuracy_mean"} and len(losses) == 2 * 3 * 2
    for name in ("best_models", "architectures", "losses", "configurations"):
        for fmt in ("md", "tex", "html"):
            assert (tmp_path / f"{name}.{fmt}").stat().st_size > 0


def test_data_tables_reconcile_and_name_a_mismatch(study, tmp_path):
    data = study.data
    balance = [data / "balance" / f"{s}.tsv" for s in ("original", "smart")]
    tabulate_data(data / "manifest.tsv", data / "counts.tsv", data / "splits.tsv", balance, tmp_path, LABELS, "drop")
    per_class = pd.read_csv(tmp_path / "class_counts.csv").set_index("class")
    assert per_class.loc["NV", "total"] == 30 and per_class.loc["ood", "total"] == 6
    assert per_class["total"].sum() == (read_tsv(data / "manifest.tsv")["status"] == "ok").sum()
    assert "AK counts as malignant" in (tmp_path / "class_counts.html").read_text()
    smart = pd.read_csv(tmp_path / "balance.csv").query("balancing == 'smart'").set_index("class")
    assert smart.loc["DF", "after"] == 6
    counts = read_tsv(data / "counts.tsv")
    counts.loc[2, "rejected"] = "0"
    counts.loc[2, "used"] = "7"
    with pytest.raises(ResultsError, match="'ood' has used 7, but the manifest has 6 'ok' rows"):
        source_counts(counts, read_tsv(data / "manifest.tsv"))
    broken = read_tsv(balance[1])
    broken.loc[0, "after"] = "99"
    broken.to_csv(balance[1], sep="\t", index=False)
    with pytest.raises(ResultsError, match=f"{balance[1]}: class 'MEL'"):
        tabulate_data(data / "manifest.tsv", data / "counts.tsv", data / "splits.tsv", balance, tmp_path, LABELS, "drop")


def test_ood_tables_compare_detectors_with_the_baseline(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    aggregate_ood(study.ood_dirs, tmp_path / "ood.tsv")
    gates = [d / "gate.tsv" for d in study.ood_dirs]
    tabulate_ood(tmp_path / "ood.tsv", tmp_path / "runs.tsv", gates, tmp_path, "macro_f1")
    detectors = pd.read_csv(tmp_path / "ood_detectors.csv")
    assert len(detectors) == 2 * 2 * 2 * 2 * 4  # experiments x losses x OOD architectures x heads x detectors
    assert (detectors.loc[detectors["detector"] == "msp", "auroc_vs_msp"] == 0).all()
    odin = detectors[(detectors["detector"] == "odin")].iloc[0]
    msp = detectors[(detectors["detector"] == "msp") & (detectors["loss"] == odin["loss"])
                    & (detectors["experiment"] == odin["experiment"]) & (detectors["head"] == odin["head"])
                    & (detectors["architecture"] == odin["architecture"])].iloc[0]
    assert odin["auroc_vs_msp"] == pytest.approx(odin["auroc_mean"] - msp["auroc_mean"])
    html = (tmp_path / "ood_detectors.html").read_text()
    assert "OOD is the positive class" in html
    # both FPR conventions, each named for what it counts, in the numbers and in the readable headers
    assert {"id_flagged_at_95_ood_caught_mean", "ood_accepted_at_95_id_accepted_mean"} <= set(detectors.columns)
    assert "ID flagged @95% OOD caught" in html and "OOD accepted @95% ID accepted" in html
    assert set(detectors["protocol"]) == {"held_out_categories"}  # the table says which OOD images tuned and tested
    gate = pd.read_csv(tmp_path / "ood_gate.csv")
    assert set(gate["experiment"]) == {"exp1", "exp6"}
    exp1 = gate[gate["experiment"] == "exp1"]
    assert set(exp1["loss"]) == {VAL_BEST[1]} and set(exp1["architecture"]) == {VAL_BEST[2]}
    shares = gate[CLASSES + ["rejected"]].sum(axis=1)
    assert np.allclose(shares, 1.0)  # every population is accounted for, with and without the gate


def test_feature_table_warns_about_random_weights(study, tmp_path):
    settings = sorted((study.root / "features").glob("*/*/images/settings.json"))
    tabulate_features(settings, tmp_path)
    table = pd.read_csv(tmp_path / "feature_sets.csv")
    assert list(table["store"]) == ["tiny-mean-r256/full/images", "tiny-mean-r256/lesion/images"]
    assert "WARNING: 2 of 2 feature stores use random encoder weights" in (tmp_path / "feature_sets.md").read_text()
