"""How long Snakemake takes to plan a large matrix: `snakemake -n` for
6 experiments x 5 losses x 3 architectures x 2 crops x 2 resolutions x 3 seeds (1,080 runs).
Goal: under 10 s on 2 cores. Prints the time, the job counts and the ratio to the goal.

    .venv/bin/python benchmarks/dag.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import SNAKEMAKE, copy_workflow  # noqa: E402

GOAL_S = 10.0
MATRIX = """
experiments:
  exp1: {balancing: original}
  exp2: {balancing: original, lr: 0.0003}
  exp3: {balancing: original, sampler: class_balanced}
  exp4: {balancing: original, weight_decay: 0.001}
  exp5: {balancing: original, epochs: 120}
  exp6: {balancing: smart}
matrix:
  experiments: [exp1, exp2, exp3, exp4, exp5, exp6]
  losses: [wce, focal, ldam, lmf, bmixup]
  architectures: [parallel, multihead, ensemble]
  crops: [full, lesion]
  resolutions: [512, 1024]
  seeds: [0, 1, 2]
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = copy_workflow(Path(tmp))
        (work / "large.yaml").write_text(MATRIX)
        cmd = [*SNAKEMAKE, "-n", "--cores", "2", "--quiet", "rules", "--configfile", "large.yaml"]
        subprocess.run(cmd, cwd=work, capture_output=True, check=True)  # warm caches (imports, .snakemake)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", proc.stdout, flags=re.M))
    print(f"snakemake -n, 1,080-run matrix: {elapsed:.1f} s for {counts.get('total', '?')} jobs "
          f"(train_heads {counts.get('train_heads')}, extract_features {counts.get('extract_features')})")
    print(f"time / goal ({GOAL_S:.0f} s): {elapsed / GOAL_S:.2f}  ({'met' if elapsed <= GOAL_S else 'NOT met'})")


if __name__ == "__main__":
    main()
