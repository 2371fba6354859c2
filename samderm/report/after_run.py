"""The report after every finished run. Snakemake's own `--report-after-run` also fires after a
dry run (`-n`), where the outputs do not exist yet and it fails, so the workflow's `onsuccess`
hook calls this instead: `snakemake --report` in a child process with the run's own config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

REPORT = "results/report.html"


def refresh_report(snakefile: str | Path, workdir: str | Path, config: Mapping[str, Any],
                   targets: Sequence[str], report: str = REPORT) -> bool:
    """Write ``report`` when every report target exists (a run of part of the study, e.g. one
    target, leaves the report as it was and says so). Returns whether it was written."""
    workdir = Path(workdir)
    missing = [t for t in targets if not (workdir / t).exists()]
    if missing:
        _say(f"report not refreshed: {len(missing)} of the study's outputs are missing (e.g. {missing[0]}); "
             "it is written after a run of the whole study")
        return False
    # the run's final config (config files and --config overrides), so the report describes this run
    settings = workdir / ".snakemake" / "samderm-report-config.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--profile", "none",
               "--configfile", str(settings), "--nolock", "--report", report]
    _say(f"writing {report}")
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake --report {report} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    _say(f"report written: {workdir / report}")
    return True


def _say(message: str) -> None:
    # the main Snakemake process, where no samderm log file is set up: the user's terminal
    print(f"samderm: {message}", file=sys.stderr, flush=True)
