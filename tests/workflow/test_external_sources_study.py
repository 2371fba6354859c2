"""The demo's external source (generated clinical photographs) through the finished demo study: the planted
copy of a training image removed from the test side and counted, every run tested on the source, its
internal-vs-external table and its images scored as the OOD level shift."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from samderm.config import load_yaml_strict
from samderm.io import read_tsv
from samderm.matrix import expand_matrix

pytestmark = pytest.mark.slow


def test_the_planted_training_image_is_removed_from_the_clinical_source_and_counted(finished_study):
    overlap = read_tsv(finished_study / "results/data/cross_source_overlap.tsv")
    assert overlap[["image_id", "match", "twin_source"]].values.tolist() == [["clinic__clinic_planted.jpg", "phash", "lesion"]]
    manifest = read_tsv(finished_study / "results/data/manifest.tsv").set_index("image_id")
    assert manifest.loc["clinic__clinic_planted.jpg", "status"] == "excluded"
    assert manifest.loc[overlap.loc[0, "twin_id"], "status"] == "ok"  # the training image stays where it was
    counts = read_tsv(finished_study / "results/data/counts.tsv").set_index("source")
    row = counts.loc["external:clinic"].astype(int)
    labels = pd.read_csv(finished_study / "results/data/clinic/labels.csv")
    assert row["found"] == len(labels) and row["cross_source_overlap"] == 1
    assert row["found"] == row["used"] + row["rejected"] + row["excluded"]
    splits = read_tsv(finished_study / "results/data/splits.tsv").set_index("image_id")
    clinic = splits[splits["split"] == "external:clinic"]
    assert len(clinic) == row["used"]
    psoriasis = manifest.index[(manifest["dataset"] == "clinic") & (manifest["original_label"] == "psoriasis")]
    assert set(clinic.loc[psoriasis, "ood_level"]) == {"near"}  # unmapped: near_ood
    assert set(clinic.drop(psoriasis)["ood_level"]) == {"shift"}  # ood.shift: [clinic]


def test_every_run_is_tested_on_the_clinical_source(finished_study, repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    mapped = read_tsv(finished_study / "results/data/manifest.tsv").query(
        "dataset == 'clinic' and status == 'ok' and lesion_class != ''")
    for run in expand_matrix(config):
        metrics = json.loads((finished_study / "results/runs" / run.path / "metrics.json").read_text())
        assert metrics["tasks"]["lesion"]["external:clinic"]["n"] == len(mapped), run.path
    tidy = pd.read_csv(finished_study / "results/tables/runs.tsv", sep="\t")
    assert (tidy["split"] == "external:clinic").any()


def test_the_internal_vs_external_table_has_each_encoder(finished_study, repo):
    encoders = load_yaml_strict(repo / "config/config.yaml")["matrix"]["encoders"]
    rows = pd.read_csv(finished_study / "results/tables/external_sources.csv")
    assert set(rows["encoder"]) == set(encoders)
    assert set(rows["source"]) == {"clinic"}
    assert (finished_study / "results/figures/external_sources.png").stat().st_size > 10_000


def test_the_clinical_photographs_are_the_shift_level_of_the_ood_tables(finished_study):
    metrics = list((finished_study / "results/ood").rglob("metrics.tsv"))
    assert metrics
    levels = set()
    for path in metrics:
        levels |= set(read_tsv(path)["ood_level"])
    assert {"far", "near", "shift", "all"} <= levels
