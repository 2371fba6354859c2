"""Feature extraction speed and memory, measured side by side in one run.

1. images/s of the full pipeline (read, decode, resize, encode, pool, write a store) against
   images/s of the bare encoder forward on tensors already in memory: same model, batch
   size, device and autocast; goal ratio >= 0.90.
2. peak RSS of a whole extraction of N vs 4N images, each in a fresh process; goal <= 1.2.

    .venv/bin/python benchmarks/extract.py                    # CPU, tiny, 256 px
    .venv/bin/python benchmarks/extract.py --encoder vit_tiny --no-rss   # any encoder of --config
    .venv/bin/python benchmarks/extract.py --device cuda --images 512 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from samderm.config import load_yaml_strict
from samderm.features.extract import FeatureExtractor, FeatureSet
from samderm.features.spec import resolve_encoder
from samderm.io import write_tsv

REPO = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """n JPEGs (like the data sets) and a manifest listing them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        pixels = rng.integers(0, 256, size=(size * 3 // 4, size, 3), dtype=np.uint8)
        path = folder / f"im{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        rows.append({"image_id": f"im{i:05d}", "path": str(path), "source": "lesion", "status": "ok"})
    write_tsv(pd.DataFrame(rows), folder / "manifest.tsv")
    return folder / "manifest.tsv"


def extractor(args) -> FeatureExtractor:
    cfg = {"batch_size": args.batch_size, "num_workers": args.workers, "dtype": "float32",
           "shard_size": args.shard_size, "device": args.device, "crop": {}}
    fs = FeatureSet(args.encoder, "mean", args.resolution, "full", "images")
    return FeatureExtractor(fs, cfg, encoder_entry(args), threads=args.threads)


def encoder_entry(args) -> dict:
    encoders = load_yaml_strict(args.config)["encoders"]
    if args.encoder not in encoders:
        raise SystemExit(f"--encoder {args.encoder!r}: not in {args.config} (encoders: {', '.join(encoders)})")
    return resolve_encoder(args.encoder, encoders[args.encoder])


def sync(ex: FeatureExtractor) -> None:
    if ex.cuda:
        torch.cuda.synchronize()


def throughput(args, work: Path) -> dict:
    manifest = make_images(work / "speed", args.images, args.image_size)
    ex = extractor(args)
    paths = pd.read_csv(manifest, sep="\t")["path"]
    tensors = torch.stack([ex.encoder.preprocess(Image.open(p).convert("RGB")) for p in paths])
    if ex.cuda:
        tensors = tensors.pin_memory()
    on_device = tensors.to(ex.device) if ex.cuda else None  # the strictest baseline: no copy at all
    ex.encode(tensors[: args.batch_size])  # warm-up: kernels, allocator
    bare, resident, pipeline = [], [], []
    for repeat in range(args.repeats):  # interleaved, so load on the machine hits both alike
        bare.append(bare_rate(ex, tensors, args.batch_size))
        if on_device is not None:
            resident.append(bare_rate(ex, on_device, args.batch_size))
        sync(ex)
        start = time.perf_counter()
        ex.run(work / f"store{repeat}" / "images", manifest)
        sync(ex)
        pipeline.append(len(tensors) / (time.perf_counter() - start))
    out = {"bare_images_per_s": max(bare), "pipeline_images_per_s": max(pipeline),
           "ratio": max(pipeline) / max(bare)}
    if resident:
        out["bare_on_device_images_per_s"] = max(resident)
        out["ratio_on_device"] = max(pipeline) / max(resident)
    return out


def bare_rate(ex: FeatureExtractor, tensors: torch.Tensor, batch_size: int) -> float:
    """images/s of the encoder alone over batches of in-memory tensors."""
    sync(ex)
    start = time.perf_counter()
    for i in range(0, len(tensors), batch_size):
        ex.encode(tensors[i : i + batch_size])
    sync(ex)
    return len(tensors) / (time.perf_counter() - start)


def peak_rss_child(args, n: int, work: Path) -> dict:
    """One whole extraction of n images in a fresh process; its peak RSS (MiB)."""
    cmd = [sys.executable, __file__, "--rss-of", str(n), "--work", str(work)] + args.passthrough
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def rss_of(args) -> None:
    manifest = make_images(Path(args.work) / f"rss{args.rss_of}", args.rss_of, args.image_size)
    ex = extractor(args)
    ex.run(Path(args.work) / f"rss{args.rss_of}-store" / "images", manifest)
    out = {"main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "workers_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    if ex.cuda:
        out["cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--config", default=str(REPO / "config/config.yaml"), help="study config naming the encoders")
    parser.add_argument("--encoder", default="tiny", help="a name in the config's encoders (any family)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs (throughput only)")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=256, help="width of the generated JPEGs")
    parser.add_argument("--images", type=int, default=16, help="images for the throughput runs")
    parser.add_argument("--rss-images", type=int, help="N of the peak-RSS runs (N vs 4N); default --images")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the main process")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rss-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.passthrough = [a for a in sys.argv[1:]]
    if args.rss_of:
        return rss_of(args)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # memory first: a child's ru_maxrss starts from this process's size when it forks
        n = args.rss_images or args.images
        small = large = None
        if not args.no_rss:
            small = peak_rss_child(args, n, work)
            large = peak_rss_child(args, 4 * n, work)
        speed = throughput(args, work)
    device = torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    family = encoder_entry(args)["family"]
    print(f"device {device}; encoder {args.encoder} ({family}) at {args.resolution} px, batch {args.batch_size}, "
          f"{args.workers} workers, {args.threads} torch threads; {args.images} JPEGs of {args.image_size} px")
    print(f"bare encoder   {speed['bare_images_per_s']:8.2f} images/s (tensors in memory)")
    print(f"full pipeline  {speed['pipeline_images_per_s']:8.2f} images/s (read, decode, resize, encode, pool, write)")
    print(f"ratio pipeline/bare = {speed['ratio']:.3f}  (goal >= 0.90)")
    if "ratio_on_device" in speed:
        print(f"bare encoder   {speed['bare_on_device_images_per_s']:8.2f} images/s (tensors already on the GPU)")
        print(f"ratio pipeline/bare-on-GPU = {speed['ratio_on_device']:.3f}")
    if small is None:
        return
    for key in small:
        print(f"peak {key:12s} N={n}: {small[key]:8.1f} MiB  4N={4 * n}: {large[key]:8.1f} MiB"
              f"  ratio {large[key] / small[key]:.3f}")
    print(f"peak RSS ratio 4N/N (main process) = {large['main_mib'] / small['main_mib']:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
