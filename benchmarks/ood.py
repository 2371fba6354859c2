"""How long one ``ood_scores`` job takes at ISIC 2019 scale, on synthetic features.

The study of config/isic2019.yaml in numbers: 25,331 lesions in ISIC 2019 class proportions, 3,000
not-skin scenes in 40 categories, 3,250 far-OOD scenes in 325 categories and 940 textures in 47,
split by the workflow's own ``make_splits`` and ``make_views``; 512 features per image (SAM2's meanmax
pooling), class clusters under full-dimensional noise; a parallel head of the config's width. The
job's whole ``score_run`` (every detector of the config over its tuning grid, on both heads, plus the
gate end to end) runs on one thread, as the job does, and then each detector alone.

    .venv/bin/python benchmarks/ood.py [--configfile config/isic2019.yaml] [--dim 512] [--threads 1]

Measured 2026-11-29 with the defaults on the shared 2-core machine (one other one-thread benchmark
running): the whole job 111 s; alone (with the shared steps) knn 52 s, relative_mahalanobis 26 s,
mahalanobis 21 s, odin 6 s, every other detector under 2 s.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from snakemake.utils import update_config
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure the samderm of this checkout, not whichever is installed

from isic2019_scale import ISIC_2019_COUNTS, MALIGNANT  # noqa: E402  (beside this script)
from samderm.data.balance import make_views  # noqa: E402
from samderm.data.splits import make_splits  # noqa: E402
from samderm.heads import HeadModel  # noqa: E402
from samderm.ood.pipeline import FeatureLookup, score_run  # noqa: E402

# (source, category prefix, categories, images per category): config/isic2019.yaml's data.public
OTHERS = [("not_skin", "scene", 40, 75), ("ood", "places", 325, 10), ("ood", "dtd", 47, 20)]


def synthetic_study(dim: int, seed: int = 0) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """(manifest, image ids, features): one cluster per lesion class, per not-skin scene and per OOD category."""
    rng = np.random.default_rng(seed)
    groups = [("lesion", c, "", n) for c, n in ISIC_2019_COUNTS.items()]
    groups += [(source, "", f"{prefix}_{k}", n) for source, prefix, categories, n in OTHERS for k in range(categories)]
    rows, features = [], []
    for source, lesion_class, category, n in groups:
        centre = rng.normal(size=dim) * 0.3
        features.append(centre + rng.normal(size=(n, dim)))
        for i in range(n):
            image_id = f"{source}_{lesion_class or category}_{i}"
            rows.append({"image_id": image_id, "path": f"{image_id}.jpg", "source": source, "lesion_class": lesion_class,
                         "malignancy": ("malignant" if lesion_class in MALIGNANT else "benign") if lesion_class else "",
                         "lesion_id": image_id, "status": "ok", "reason": "", "mask_path": "", "category": category,
                         "group_id": image_id, "phash": ""})
    manifest = pd.DataFrame(rows)
    return manifest, manifest["image_id"].tolist(), np.concatenate(features).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=REPO / "config" / "isic2019.yaml",
                        help="over config/config.yaml, as snakemake's --configfile")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension (SAM2 meanmax pooling: 512)")
    parser.add_argument("--threads", type=int, default=1, help="threads (an ood_scores job has 1)")
    parser.add_argument("--detectors", nargs="*", help="default: the config's ood.detectors")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load(args.configfile.read_text()))
    ood = {**config["ood"], "detectors": args.detectors or config["ood"]["detectors"]}
    logging.basicConfig(level=logging.WARNING)

    manifest, ids, features = synthetic_study(args.dim)
    splits = make_splits(manifest, config["splits"], config["data"].get("ood_levels"))
    views, _ = make_views(manifest, splits, "original", config["balancing"]["original"])
    architecture = config["architectures"]["parallel"]
    torch.manual_seed(0)
    model = HeadModel("parallel", {"skin": ["not_skin", "skin"], "lesion": list(ISIC_2019_COUNTS)}, args.dim,
                      hidden=architecture["hidden"], dropout=architecture["dropout"])
    model.set_standardisation(torch.as_tensor(features.mean(0)), torch.as_tensor(features.std(0)))
    lookup = FeatureLookup(ids, features, "synthetic")
    counts = splits.merge(manifest[["image_id", "source"]]).groupby(["source", "split"]).size().to_dict()
    print(f"{len(ids)} images x {args.dim} features {counts}; {args.threads} thread(s)")
    grids = {name: ood.get(name) for name in ood["detectors"] if isinstance(ood.get(name), dict)}
    print(f"detectors {ood['detectors']} on heads {ood['heads']}; grids {grids}\n")

    with threadpool_limits(limits=args.threads):
        torch.set_num_threads(args.threads)
        started = time.perf_counter()
        score_run(model, manifest, splits, views, lookup, ood)
        whole = time.perf_counter() - started
        print(f"{'whole ood_scores job (score_run)':40s} {whole:8.1f} s")
        for detector in ood["detectors"]:
            started = time.perf_counter()
            score_run(model, manifest, splits, views, lookup, {**ood, "detectors": [detector]})
            print(f"{'  ' + detector + ' alone (with the shared steps)':40s} {time.perf_counter() - started:8.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
