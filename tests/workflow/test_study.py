"""The default demo study, run end to end on one machine, and what a re-run after a config edit
schedules: only the new training and evaluation jobs and the aggregation (tables, figures, the model bundle), never extraction."""

from __future__ import annotations

import re
import subprocess

import pandas as pd
import pytest

from samderm.config import load_yaml_strict
from samderm.matrix import expand_matrix
from snakemake.utils import validate
from tests.conftest import SNAKEMAKE

pytestmark = pytest.mark.slow

ENCODER_RULES = {"extract_features", "segment_lesions", "download_checkpoint"}
PER_RUN_RULES = {"train_heads", "train_probe", "ensemble_heads", "ood_scores"}


def planned_jobs(workdir, overlay: str | None = None, tmp_path=None) -> dict[str, int]:
    """`snakemake -n` job counts per rule (empty when nothing is to do)."""
    args = [*SNAKEMAKE, "-n", "--cores", "2", "--quiet", "rules"]
    if overlay:
        (tmp_path / "edit.yaml").write_text(overlay)
        args += ["--configfile", str(tmp_path / "edit.yaml")]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    counts = {}
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if m and m.group(1) not in ("total", "count"):
            counts[m.group(1)] = int(m.group(2))
    return counts


def test_every_run_of_the_matrix_has_its_outputs(finished_study, repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    validate(config, str(repo / "config/schema.yaml"))
    runs = expand_matrix(config)
    for run in runs:
        run_dir = finished_study / "results/runs" / run.path
        assert (run_dir / "metrics.json").is_file(), run_dir
        assert (run_dir / "isic_submission.csv").is_file(), run_dir
    tidy = pd.read_csv(finished_study / "results/tables/runs.tsv", sep="\t")
    assert len(tidy.groupby(["experiment", "loss", "architecture", "crop", "encoder", "resolution", "seed"])) == len(runs)
    assert (finished_study / "results/report.html").stat().st_size > 100_000
    assert list((finished_study / "results/logs").rglob("*.log")), "rules wrote no logs"


def test_a_finished_study_has_nothing_left_to_do(finished_study):
    assert planned_jobs(finished_study) == {}


@pytest.mark.parametrize(
    "edit",
    [
        # a new experiment with an existing balancing strategy
        "experiments: {exp2: {balancing: original, lr: 0.0005}}\n"
        "matrix: {experiments: [exp1, exp6, exp2]}\n",
        # a new loss
        "losses: {focal1: {type: focal, gamma: 1.0}}\n"
        "matrix: {losses: [wce, focal, ldam, ldam_drw, lmf, bmixup, focal1]}\n",
        # a new seed
        "matrix: {seeds: [0, 1]}\n",
    ],
    ids=["experiment", "loss", "seed"],
)
def test_adding_to_the_matrix_schedules_only_new_runs(finished_study, tmp_path, edit):
    jobs = planned_jobs(finished_study, edit, tmp_path)
    assert jobs, "the edit scheduled nothing"
    assert not ENCODER_RULES & jobs.keys(), f"the edit re-ran the encoder: {jobs}"
    assert not {"make_demo", "build_manifest", "make_splits"} & jobs.keys(), jobs
    assert jobs.get("train_heads", 0) > 0
    unexpected = {r for r in jobs if r not in PER_RUN_RULES and not r.startswith(("aggregate", "calibrate", "bootstrap", "tabulate", "plot", "bundle", "export", "all"))}
    assert not unexpected, f"re-ran steps that the edit does not touch: {unexpected}"
    if "losses:" in edit:  # a probe has no loss: a new loss adds no probe run
        assert "train_probe" not in jobs, jobs


def test_the_new_balancing_strategy_extracts_only_its_copies(finished_study, tmp_path):
    edit = (
        "balancing: {more: {caps: {NV: 40}, augment_to: 25, seed: 1}}\n"
        "experiments: {exp7: {balancing: more}}\n"
        "matrix: {experiments: [exp1, exp6, exp7]}\n"
    )
    jobs = planned_jobs(finished_study, edit, tmp_path)
    # one store of augmented copies per feature set and crop mode (tiny full and lesion, vit_tiny and clip full);
    # the image stores are reused, and only the new copies are segmented, once for every encoder
    assert jobs.get("extract_features") == 4, jobs
    assert jobs.get("segment_lesions") == 1, jobs
    assert jobs.get("make_views") == 1, jobs
