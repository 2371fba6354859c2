"""The ood_scores rule, run by Snakemake on the tiny study (common.smk + ood.smk only)."""

import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import OOD_CONFIG, RUN_PATH, write_study

REPO = Path(__file__).resolve().parents[2]


def test_snakemake_runs_ood_scores(tmp_path):
    root = write_study(tmp_path)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["ood"] = {**config["ood"], **OOD_CONFIG}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "Snakefile").write_text(
        'configfile: "config.yaml"\n'
        f'include: "{REPO}/rules/common.smk"\n'
        f'include: "{REPO}/rules/ood.smk"\n'
    )
    target = f"results/ood/{RUN_PATH}/gate.tsv"
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([snakemake, "--cores", "1", "--directory", str(root), "--snakefile", str(root / "Snakefile"), target],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("scores", "metrics", "curves", "gate", "tuning", "end_to_end", "end_to_end_images", "class_rejection",
                 "risk_coverage"):
        assert (root / f"results/ood/{RUN_PATH}/{name}.tsv").is_file()
    log = (root / f"results/logs/ood_scores/{RUN_PATH}.log").read_text()
    assert "lesion head: fit on 100 original train images (5 augmented train copies not used" in log
    assert "wrote " in log and "ood detectors" in log
