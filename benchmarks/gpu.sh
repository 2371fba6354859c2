#!/usr/bin/env bash
# The CUDA check of samderm, in one go (goal: under 8 minutes on one GPU):
#   1. the tests marked gpu (CUDA extraction equals CPU extraction, every family's CUDA path);
#   2. benchmarks/extract.py --device cuda for one encoder of every family (sam2, sam, timm, open_clip,
#      transformers; random weights, benchmarks/gpu_encoders.yaml), no peak-RSS runs;
#   3. one table: family, encoder, images/s of the whole pipeline, pipeline/bare ratio, peak GPU memory.
# Usage: bash benchmarks/gpu.sh [OUT_DIR]     (PYTHON=... to choose the interpreter; DEVICE=cpu dry-runs the
# plumbing on a machine without a GPU, with fewer IMAGES, no more THREADS than cores, WORKERS=0 and
# without SAM's 1024 px encoder, e.g. DEVICE=cpu IMAGES=8 BATCH=4 THREADS=2 WORKERS=0
# ENCODERS="sam2_tiny:256 dinov2_s:224 clip_b16:224 clip_vision:224"; its numbers are not the GPU's)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/benchmarks/gpu}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
device=${DEVICE:-cuda}
images=${IMAGES:-256}
batch=${BATCH:-32}
threads=${THREADS:-4}    # torch threads of the main process, and DataLoader workers beside it
workers=${WORKERS:-4}
mkdir -p "$out"

if [ "$device" = cuda ]; then
    "$python" - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("benchmarks/gpu.sh: torch sees no CUDA device (torch %s, CUDA build %s)" % (torch.__version__, torch.version.cuda))
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY
    # the gpu-marked tests; exit 5 (none collected) is a failure like any other
    "$python" -m pytest -m gpu -q -p no:cacheprovider tests/features 2>&1 | tee "$out/pytest_gpu.log"
fi

# encoder, resolution: each family at a size its model takes (SAM: 1024 only; patch 14 and 16 both divide 224)
for pair in ${ENCODERS:-sam2_tiny:256 sam_vit_b:1024 dinov2_s:224 clip_b16:224 clip_vision:224}; do
    encoder=${pair%%:*}
    resolution=${pair##*:}
    echo "== $encoder at $resolution px on $device"
    "$python" benchmarks/extract.py --config benchmarks/gpu_encoders.yaml --encoder "$encoder" \
        --device "$device" --resolution "$resolution" --images "$images" --batch-size "$batch" \
        --workers "$workers" --threads "$threads" --repeats 2 --no-rss --json "$out/$encoder.json" 2>&1 | tee "$out/$encoder.log"
done

"$python" - "$out" <<'PY'
import json, sys
from pathlib import Path

rows = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("*.json"))]
lines = ["| family | encoder | px | device | pipeline images/s | bare images/s | pipeline/bare | peak GPU MiB |",
         "|---|---|---|---|---|---|---|---|"]
for r in sorted(rows, key=lambda r: r["family"]):
    workers = max(r["ratio"], key=lambda w: r["ratio"][w])
    peak = r.get("peak_gpu_mib")
    lines.append(f"| {r['family']} | {r['encoder']} | {r['resolution']} | {r['device']} | "
                 f"{r['pipeline_images_per_s'][workers]:.1f} | {r['bare_images_per_s']:.1f} | "
                 f"{r['ratio'][workers]:.2f} | {'-' if peak is None else f'{peak:.0f}'} |")
table = "\n".join(lines)
Path(sys.argv[1], "table.md").write_text(table + "\n")
print(table)
PY
