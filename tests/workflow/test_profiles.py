"""The commands users type: `snakemake --profile slurm` / `--profile local` from the repository
root (the top-level links to profiles/), and a report written by the run itself."""

from __future__ import annotations

import os
import re

import pytest
import yaml

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


def test_every_memory_and_time_request_grows_with_each_retry():
    """A job killed at its memory or time limit fails again on a retry that asks for the same;
    the slurm profile retries twice, so every rule's request and every profile expression must
    scale with `attempt` (in CI, make_views at a fixed 1 GB was killed on all three attempts)."""
    requests = [(path.name, line.strip()) for path in sorted((REPO / "rules").glob("*.smk"))
                for line in path.read_text().splitlines() if re.match(r"\s*(mem_mb|runtime)=", line)]
    assert len(requests) > 50, requests  # the rules were read
    fixed = [request for request in requests if "per_attempt(" not in request[1]]
    assert not fixed, f"requests that stay the same on a retry: {fixed}"
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    expressions = [(rule, key, str(value)) for rule, values in
                   [("default-resources", profile["default-resources"]), *profile["set-resources"].items()]
                   for key, value in values.items() if key in ("mem_mb", "runtime")]
    assert len(expressions) > 20, expressions
    assert not [e for e in expressions if "* attempt" not in e[2]], expressions
