"""Subgroups in the finished demo study: every lesion and external image has a skin tone or a reason, every
configured column is reported for the internal test split and the clinical source, counts add up to the split,
and the gate is reported per subgroup."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.config import load_yaml_strict
from samderm.data.ita import ITA_CATEGORIES
from samderm.io import read_tsv

pytestmark = pytest.mark.slow


def test_every_lesion_and_external_image_has_a_skin_tone_or_a_reason(finished_study):
    manifest = read_tsv(finished_study / "results/data/manifest.tsv")
    wanted = manifest[(manifest["status"] == "ok") & manifest["source"].isin(["lesion", "external"])]
    ita = read_tsv(finished_study / "results/data/ita.tsv")
    assert sorted(ita["image_id"]) == sorted(wanted["image_id"])
    assert ((ita["ita_category"] != "") ^ (ita["reason"] != "")).all()
    assert set(ita["ita_category"]) - {""} <= set(ITA_CATEGORIES)
    # the demo's masks are used for its lesion images; the clinical photographs have none, so the ring is
    by_source = ita.merge(manifest[["image_id", "source"]], on="image_id").groupby("source")["skin_from"].agg(set)
    assert by_source["lesion"] == {"mask"} and by_source["external"] == {"ring"}


def test_each_column_is_reported_and_its_groups_add_up_to_the_split(finished_study, repo):
    columns = load_yaml_strict(repo / "config/config.yaml")["subgroups"]["columns"]
    rows = pd.read_csv(finished_study / "results/tables/subgroups_runs.tsv", sep="\t", comment="#")
    assert set(rows["split"]) == {"test", "external:clinic"}
    assert set(columns) <= set(rows["column"])
    counts = rows[rows["metric"] == "balanced_accuracy"].drop_duplicates(
        ["experiment", "loss", "architecture", "crop", "encoder", "seed", "task", "split", "column", "group"])
    for (_, split, column), part in counts.groupby(["task", "split", "column"]):
        total = counts[(counts["task"] == part["task"].iloc[0]) & (counts["split"] == split) & (counts["column"] == "all")]
        if column != "all":
            assert part.groupby(["encoder"])["n_images"].sum().equals(total.groupby(["encoder"])["n_images"].sum())
    clinic = counts[(counts["split"] == "external:clinic") & (counts["column"] == "fitzpatrick")]
    assert set(clinic["group"]) >= {"I", "VI"}  # the clinical source's patients span the types


def test_the_gate_is_reported_per_subgroup(finished_study):
    gate = pd.read_csv(finished_study / "results/tables/subgroups_gate.csv")
    assert {"test", "external:clinic"} <= set(gate["split"])
    assert (finished_study / "results/figures/subgroups_lesion.png").stat().st_size > 10_000
    assert (finished_study / "results/figures/ita.png").stat().st_size > 10_000
