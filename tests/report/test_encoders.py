"""The encoder comparison table: best lesion configuration per encoder chosen on val, its test
scores, the feature dimension from the stores and the throughput from the extraction logs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from samderm.report.aggregate import TIDY_COLUMNS, ResultsError
from samderm.report.encoders import encoder_table, extraction_time, tabulate_encoders

ENCODERS = {"tiny": ("sam2", 256), "vit": ("timm", 192)}


def tidy_runs(rng) -> pd.DataFrame:
    """Two encoders x two losses x two archs x two seeds; val and test differ on purpose."""
    rows = []
    for enc, loss, arch, seed in itertools.product(ENCODERS, ["wce", "focal"], ["parallel", "multihead"], [0, 1]):
        for split, metric in itertools.product(["val", "test"], ["macro_f1", "balanced_accuracy"]):
            for task in ("lesion", "skin"):
                rows.append(["exp1", loss, arch, "full", enc, "mean", 256, seed, task, split, metric,
                             float(rng.uniform())])
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def write_stores_and_logs(root):
    settings, logs = [], []
    spans = {"tiny": [(100, 10.0), (50, 5.0)], "vit": [(100, 4.0), (60, 2.0)]}
    for enc, (family, dim) in ENCODERS.items():
        for crop, (views, seconds) in zip(["full", "lesion"], spans[enc]):
            store = root / "features" / f"{enc}-mean-r256" / crop / "images"
            store.mkdir(parents=True)
            (store / "settings.json").write_text(json.dumps({"encoder": enc, "family": family, "dim": dim}))
            settings.append(store / "settings.json")
            log = root / "logs" / "extract_features" / f"{enc}-mean-r256" / crop / "images.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            end = f"{seconds:06.3f}".replace(".", ",")
            log.write_text(
                # a killed first attempt, then the complete one
                "2026-01-01 10:00:00,000 INFO samderm.features.extract: encoder: 3 of 3 shards to compute (999 views) on cpu\n"
                "encode views:  33%|###       | 1/3\n"
                f"2026-01-01 11:00:00,000 INFO samderm.features.extract: encoder: 2 of 3 shards to compute ({views} views) on cpu\n"
                f"2026-01-01 11:00:{end} INFO samderm.features.extract: wrote {store}: 3 x {dim} float32 features, 0 crop fallbacks\n")
            logs.append(log)
    return settings, logs


def test_each_encoder_reports_its_val_chosen_configuration_on_test(tmp_path):
    tidy = tidy_runs(np.random.default_rng(0))
    settings, logs = write_stores_and_logs(tmp_path)
    table = encoder_table(tidy, settings, logs).set_index("encoder")

    lesion = tidy[tidy["task"] == "lesion"]
    for enc, (family, dim) in ENCODERS.items():
        mean = lesion[lesion["encoder"] == enc].groupby(["loss", "architecture", "split", "metric"])["value"].mean()
        val = mean.xs(("val", "macro_f1"), level=("split", "metric"))
        loss, arch = val.idxmax()
        row = table.loc[enc]
        assert (row["loss"], row["architecture"]) == (loss, arch)
        assert row["val_macro_f1"] == pytest.approx(val.max())
        for metric in ("macro_f1", "balanced_accuracy"):
            assert row[f"{metric}_mean"] == pytest.approx(mean[(loss, arch, "test", metric)])
        assert (row["family"], row["dim"]) == (family, str(dim))
    assert table.loc["tiny", "images_per_s"] == pytest.approx(150 / 15)
    assert table.loc["vit", "images_per_s"] == pytest.approx(160 / 6)


def test_tabulate_writes_the_table_files(tmp_path):
    tidy = tidy_runs(np.random.default_rng(1))
    tidy.to_csv(tmp_path / "runs.tsv", sep="\t", index=False)
    settings, logs = write_stores_and_logs(tmp_path)
    terms = {"tiny": {"licence": "Apache-2.0", "gated": False}, "vit": {"licence": "DINOv3 License", "gated": True}}
    tabulate_encoders(tmp_path / "runs.tsv", settings, logs, tmp_path / "encoders",
                      figure=(tmp_path / "encoders.png", tmp_path / "encoders.svg"), terms=terms)
    table = pd.read_csv(tmp_path / "encoders.csv").set_index("encoder")
    assert table[["licence", "gated"]].to_dict("index") == terms  # every row says whose terms its numbers are under
    assert "DINOv3 License, gated" in (tmp_path / "encoders.svg").read_text()
    assert (tmp_path / "encoders.png").stat().st_size > 1000 and "vit" in (tmp_path / "encoders.svg").read_text()
    assert "Encoders compared" in (tmp_path / "encoders.md").read_text()


def test_a_log_without_a_finished_pass_is_named(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("2026-01-01 10:00:00,000 INFO x: encoder: 1 of 1 shards to compute (5 views) on cpu\n")
    with pytest.raises(ResultsError, match="x.log: no completed encoder pass"):
        extraction_time(log)


def test_an_encoder_without_lesion_runs_is_named(tmp_path):
    tidy = tidy_runs(np.random.default_rng(2))
    settings, logs = write_stores_and_logs(tmp_path)
    with pytest.raises(ResultsError, match=r"\['vit'\] have feature stores but no lesion runs"):
        encoder_table(tidy[tidy["encoder"] != "vit"], settings, logs)


def test_an_encoder_missing_from_the_terms_is_named(tmp_path):
    settings, logs = write_stores_and_logs(tmp_path)
    with pytest.raises(ResultsError, match=r"\['vit'\] have feature stores but no entry in encoders"):
        encoder_table(tidy_runs(np.random.default_rng(3)), settings, logs, terms={"tiny": {"licence": "MIT"}})
