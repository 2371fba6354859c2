"""Speed of ``samderm predict``, measured side by side in one run with pinned threads.

1. images/s of predict on a folder (decode, encode, heads, gate, thumbnails, TSV, page) against
   images/s of the extraction pipeline alone on the same images (FeatureExtractor.run: decode,
   encode, pool, write a store), same encoder, batch size and threads; goal ratio >= 0.8 (the
   heads and the gate must be nearly free).
2. start-up time of a one-image prediction: ``python -m samderm.predict ONE.jpg`` in a fresh process
   (imports, bundle load and gate refit, encoder build, one image), wall clock.

    .venv/bin/python benchmarks/predict.py                     # CPU, demo encoder tiny at 256 px
    .venv/bin/python benchmarks/predict.py --encoder vit_tiny --images 64
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # this checkout
from samderm.features.extract import FeatureExtractor, FeatureSet
from samderm.features.store import load_features
from samderm.heads import HeadModel, save_head
from samderm.matrix import Run
from samderm.predict.bundle import GateSpec, HeadSpec, write_bundle
from samderm.predict.run import predict_images
from samderm.predict.study import feature_set_entry

from extract import REPO, encoder_entry, make_images  # noqa: E402  (the extraction benchmark's inputs)

TASKS = {"skin": ["not_skin", "skin"], "lesion": ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"],
         "malignancy": ["benign", "malignant"]}


def make_bundle(args, results: Path, out: Path) -> None:
    """A bundle of random heads on the store the extraction wrote, gated by ``--detector``."""
    run = Run("exp1", "wce", "parallel", "full", args.encoder, "mean", args.resolution, 0)
    ids, features = load_features(results / "features" / run.feature_set / "full" / "images")
    torch.manual_seed(0)
    model = HeadModel("parallel", TASKS, features.shape[1], hidden=[256])
    model.set_standardisation(features.mean(0), features.std(0) + 1e-3)
    save_head(model, results / "model.pt")
    fs = {"encoder": run.encoder, "pooling": "mean", "resolution": args.resolution, "crop": "full"}
    heads = {t: HeadSpec(results / "model.pt", run.as_dict(), fs, 1.2) for t in TASKS}
    labels = np.arange(len(ids)) % len(TASKS[args.head])
    gate = GateSpec(results / "model.pt", run.as_dict(), fs, args.head, args.detector, {}, 0.0, features, labels)
    config = {"encoders": {args.encoder: encoder_entry(args)}}
    write_bundle(out, heads, gate, {f"{run.feature_set}/full": feature_set_entry(config, run, results)},
                 {"batch_size": args.batch_size, "dtype": "float32", "shard_size": 10**6, "crop": {}}, None,
                 {c: "benign" for c in TASKS["lesion"]}, "benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "config/config.yaml"), help="study config naming the encoders")
    parser.add_argument("--encoder", default="tiny", help="a name in the config's encoders (any family)")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=256, help="width of the generated JPEGs")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads of both sides")
    parser.add_argument("--detector", default="mahalanobis", help="the gate's detector (fit rows: the store)")
    parser.add_argument("--head", default="lesion")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads), tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(args.threads)
        work = Path(tmp)
        manifest = make_images(work / "images", args.images, args.image_size)
        cfg = {"batch_size": args.batch_size, "num_workers": 0, "dtype": "float32", "shard_size": 10**6,
               "device": "cpu", "crop": {}}
        store = work / "results" / "features" / f"{args.encoder}-mean-r{args.resolution}" / "full" / "images"
        extractor = FeatureExtractor(FeatureSet(args.encoder, "mean", args.resolution, "full", "images"), cfg,
                                     encoder_entry(args), threads=args.threads)
        extract, predict = [], []
        for repeat in range(args.repeats):  # interleaved, so load on the machine hits both alike
            start = time.perf_counter()
            extractor.run(store if repeat == 0 else work / f"store{repeat}" / "images", manifest)
            extract.append(args.images / (time.perf_counter() - start))
            if repeat == 0:
                make_bundle(args, work / "results", work / "models")
            start = time.perf_counter()
            predict_images(work / "images", work / "models", work / f"predicted{repeat}", threads=args.threads,
                           batch_size=args.batch_size)
            predict.append(args.images / (time.perf_counter() - start))
        one = work / "images" / "im00000.jpg"
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "samderm.predict", str(one), "--bundle", str(work / "models"),
                        "--out", str(work / "one"), "--threads", str(args.threads)], check=True, env=env,
                       cwd=REPO, capture_output=True)
        startup = time.perf_counter() - start
    print(f"cpu, {args.threads} threads (threadpoolctl + torch); encoder {args.encoder} at {args.resolution} px, "
          f"batch {args.batch_size}; {args.images} JPEGs of {args.image_size} px; gate {args.detector} on {args.head}")
    print(f"extraction pipeline {max(extract):8.2f} images/s (decode, encode, pool, write the store)")
    print(f"predict             {max(predict):8.2f} images/s (decode, encode, heads, gate, thumbnails, TSV, page)")
    print(f"ratio predict/extraction = {max(predict) / max(extract):.3f}  (goal >= 0.8)")
    print(f"start-up of a one-image prediction (fresh process, wall) = {startup:.2f} s")


if __name__ == "__main__":
    main()
