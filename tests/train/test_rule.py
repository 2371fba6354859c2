"""train_heads and ensemble_heads, run by Snakemake on synthetic inputs (common.smk + train.smk only)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from samderm.features.store import write_store
from samderm.io import read_json, write_tsv

from .conftest import synthetic_tables

REPO = Path(__file__).resolve().parents[2]
RUN = "exp1/wce/{arch}/full/tiny-mean-r256/seed0"


def write_study(root: Path) -> None:
    t = synthetic_tables(per_class=10, not_skin=20)
    for name, path in (("manifest", "manifest.tsv"), ("splits", "splits.tsv"), ("views", "views/original.tsv")):
        write_tsv(t[name], root / "results/data" / path)
    write_store(root / "results/features/tiny-mean-r256/full/images", t["view_ids"], [t["features"]],
                t["features"].shape[1], "float32", {"encoder": "tiny"})
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["experiments"]["exp1"].update(epochs=8, patience=3)
    config["matrix"].update(experiments=["exp1"], losses=["wce"], architectures=["parallel", "multihead", "ensemble"],
                            crops=["full"], encoders=["tiny"], resolutions=[256], seeds=[0], exclude=[])
    # the synthetic tables have no external source (the demo's clinic is tested in tests/workflow)
    config["data"]["sources"], config["evaluation"] = {}, {}
    config["ood"].pop("shift")
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "Snakefile").write_text(
        'configfile: "config.yaml"\n'
        f'include: "{REPO}/rules/common.smk"\n'
        f'include: "{REPO}/rules/train.smk"\n'
    )


def test_snakemake_trains_both_architectures_and_ensembles_them(tmp_path):
    write_study(tmp_path)
    snakemake = Path(sys.executable).parent / "snakemake"
    target = f"results/runs/{RUN.format(arch='ensemble')}/metrics.json"
    done = subprocess.run([snakemake, "--cores", "2", "--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"),
                           target], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for arch in ("parallel", "multihead", "ensemble"):
        metrics = read_json(tmp_path / "results/runs" / RUN.format(arch=arch) / "metrics.json")
        assert metrics["run"]["architecture"] == arch and metrics["run"]["loss"] == "wce"
        assert metrics["tasks"]["skin"]["test"]["n"] == 8 * 2 + 4
    assert (tmp_path / "results/runs" / RUN.format(arch="multihead") / "model.pt").is_file()
    log = (tmp_path / "results/logs/train_heads" / f"{RUN.format(arch='parallel')}.log").read_text()
    assert "task lesion: train 48, val 16, test 16 rows" in log and "best val macro-F1" in log and "wrote" in log
    members = read_json(tmp_path / "results/runs" / RUN.format(arch="ensemble") / "metrics.json")["members"]
    assert members == ["parallel", "multihead"]
    assert np.isfinite(read_json(tmp_path / "results/runs" / RUN.format(arch="ensemble") / "metrics.json")
                       ["tasks"]["lesion"]["test"]["macro_f1"])
