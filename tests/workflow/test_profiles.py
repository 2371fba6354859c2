"""The commands users type: `snakemake --profile slurm` / `--profile local` from the repository
root (the top-level links to profiles/), and a report written by the run itself."""

from __future__ import annotations

import os

import pytest

from samderm.report.after_run import refresh_report
from tests.conftest import REPO, copy_workflow, snakemake


@pytest.mark.parametrize("profile", ["slurm", "local"])
def test_the_profile_name_users_type_plans_the_study(tmp_path, profile):
    link = REPO / profile
    assert link.is_symlink() and os.readlink(link) == f"profiles/{profile}", "one profile, no copy that can drift"
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "--profile", profile, "-n", "--quiet", "rules")
    assert "train_heads" in proc.stdout
    # a dry run plans; it writes no report (Snakemake's --report-after-run would fail here)
    assert not (work / "results/report.html").exists()


def test_a_partial_study_leaves_the_report_alone(tmp_path, capsys):
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "results/tables/runs.tsv").write_text("x\n")
    written = refresh_report(REPO / "Snakefile", tmp_path, {}, ["results/tables/runs.tsv", "results/tables/ood_runs.tsv"])
    assert written is False
    assert not (tmp_path / "results/report.html").exists()
    assert "results/tables/ood_runs.tsv" in capsys.readouterr().err
