"""The data rules under real Snakemake: demo -> manifest -> splits -> views, and rerun triggers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from samderm.io import read_tsv

SNAKEFILE = """
configfile: "config.yaml"
include: "{repo}/rules/common.smk"
include: "{repo}/rules/data.smk"
"""


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["data"]["demo"].update(image_size=48, not_skin=6, ood=4, unlabeled=4,
                                  class_counts={"MEL": 9, "NV": 15, "BCC": 6, "AK": 6, "BKL": 6, "DF": 6, "VASC": 6, "SCC": 6})
    config["balancing"]["smart"].update(caps={"NV": 6}, augment_to=8)
    return config


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(workdir / "Snakefile"),
           "--directory", str(workdir), "--cores", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def workflow(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("flow")
    (workdir / "Snakefile").write_text(SNAKEFILE.format(repo=repo))
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo)))
    done = _snakemake(workdir, "results/data/views/smart.tsv", "results/data/views/original.tsv", "results/data/counts.tsv")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_demo_flows_into_manifest_splits_and_views(workflow):
    data = workflow / "results" / "data"
    counts = read_tsv(data / "counts.tsv").set_index("source")
    assert counts.loc["lesion", "used"] == "60" and counts.loc["not_skin", "used"] == "6" and counts.loc["ood", "used"] == "4"
    assert counts.loc["unlabeled", "used"] == "4"  # data.unlabeled_dir: the demo's results/data/unlabeled
    splits = read_tsv(data / "splits.tsv")
    internal = ~splits["split"].str.startswith("external:")
    assert internal.sum() == 74 and (splits["split"] == "unlabeled").sum() == 4
    # data.sources.clinic: the generated clinical photographs, but for the planted copy of a training image
    assert (~internal).sum() == int(counts.loc["external:clinic", "used"]) == int(counts.loc["external:clinic", "found"]) - 1
    smart = read_tsv(data / "views" / "smart.tsv")
    assert (smart.loc[smart["copy"] != "0", "split"] == "train").all() and (smart["copy"] != "0").any()
    balance = read_tsv(data / "balance" / "smart.tsv").set_index("class")
    nv = balance.loc["NV"].astype(int)
    assert nv["before"] - nv["capped"] == 6 and nv["after"] == 8  # capped to 6, then augmented to 8
    for rule in ("make_demo", "build_manifest", "make_splits"):
        assert (workflow / "results" / "logs" / f"{rule}.log").stat().st_size > 0
    assert "decode images" in (workflow / "results" / "logs" / "build_manifest.log").read_text()


def test_a_change_to_splits_reruns_splits_and_views_only(workflow):
    config = yaml.safe_load((workflow / "config.yaml").read_text())
    config["splits"]["seed"] = 5
    (workflow / "config.yaml").write_text(yaml.safe_dump(config))
    plan = _snakemake(workflow, "results/data/views/smart.tsv", "--dry-run")
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = plan.stdout + plan.stderr
    assert "make_splits" in jobs and "make_views" in jobs
    assert "build_manifest" not in jobs and "make_demo" not in jobs
