"""Feature extraction speed and memory, measured side by side in one run.

1. images/s of the full pipeline (``FeatureExtractor.run``: read, decode, preprocess, DataLoader
   workers, encode, pool, shards, store) against images/s of the bare encoder forward
   (``FeatureExtractor.encode``) on tensors already in memory: same model, batch size, device,
   autocast and torch threads (--threads, both sides); goal ratio >= 0.90.
2. peak RSS of a whole extraction of N vs 4N images, each in a fresh process; goal <= 1.2.

On a CPU the pipeline must also decode and resize, on cores the bare encoder has to itself: with
0 workers in turn with the encoder, with workers beside its threads. So the pipeline is measured at
each --workers value (default: the config's features.num_workers, 0 and 1), and the preprocessing's
cost per image on one core is printed with the two ceilings it sets: 1 / (1 + preprocess s x bare
images/s) with 0 workers, and the same with the preprocess time divided by the encoder's threads
when workers share cores the encoder keeps busy. Bare and pipeline runs are interleaved and the
best of --repeats is kept for each, so load from other processes hits both alike.

    .venv/bin/python benchmarks/extract.py                    # CPU, tiny, 256 px
    .venv/bin/python benchmarks/extract.py --encoder vit_tiny --no-rss   # any encoder of --config
    .venv/bin/python benchmarks/extract.py --device cuda --images 512 --batch-size 32
    bash benchmarks/gpu.sh          # every family on CUDA, one table (benchmarks/gpu_encoders.yaml)
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure the samderm of this checkout, not whichever is installed

from samderm.config import load_yaml_strict  # noqa: E402
from samderm.data.images import load_rgb  # noqa: E402
from samderm.features.extract import FeatureExtractor, FeatureSet  # noqa: E402
from samderm.features.spec import resolve_encoder  # noqa: E402
from samderm.io import write_tsv  # noqa: E402


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


def extractor(args, workers: int) -> FeatureExtractor:
    cfg = {"batch_size": args.batch_size, "num_workers": workers, "dtype": "float32",
           "shard_size": args.shard_size, "device": args.device, "crop": {}}
    fs = FeatureSet(args.encoder, "mean", args.resolution, "full", "images")
    return FeatureExtractor(fs, cfg, encoder_entry(args), threads=args.threads)


def study_config(args) -> dict:
    return load_yaml_strict(args.config)


def encoder_entry(args) -> dict:
    encoders = study_config(args)["encoders"]
    if args.encoder not in encoders:
        raise SystemExit(f"--encoder {args.encoder!r}: not in {args.config} (encoders: {', '.join(encoders)})")
    return resolve_encoder(args.encoder, encoders[args.encoder])


def sync(ex: FeatureExtractor) -> None:
    if ex.cuda:
        torch.cuda.synchronize()


def throughput(args, work: Path) -> dict:
    manifest = make_images(work / "speed", args.images, args.image_size)
    ex = extractor(args, args.workers[0])
    paths = pd.read_csv(manifest, sep="\t")["path"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker, so CPU time = core time
    start = time.process_time()
    tensors = torch.stack([ex.encoder.preprocess(load_rgb(p)) for p in paths])
    preprocess_core_s = (time.process_time() - start) / len(paths)
    torch.set_num_threads(threads)
    if ex.cuda:
        tensors = tensors.pin_memory()
    on_device = tensors.to(ex.device) if ex.cuda else None  # the strictest baseline: no copy at all
    for _ in range(2):  # warm-up: kernels, allocator, oneDNN primitives of this batch shape
        ex.encode(tensors[: args.batch_size])
    bare, resident = [], []
    pipeline: dict[int, list[float]] = {w: [] for w in args.workers}
    for repeat in range(args.repeats):  # interleaved, so load on the machine hits both alike
        bare.append(bare_rate(ex, tensors, args.batch_size))
        if on_device is not None:
            resident.append(bare_rate(ex, on_device, args.batch_size))
        for workers in args.workers:
            ex.cfg["num_workers"] = workers
            sync(ex)
            start = time.perf_counter()
            ex.run(work / f"store{repeat}-w{workers}" / "images", manifest)
            sync(ex)
            pipeline[workers].append(len(tensors) / (time.perf_counter() - start))
    best_bare = max(bare)
    out = {"bare_images_per_s": best_bare, "torch_threads": torch.get_num_threads(),
           "preprocess_core_ms": 1000 * preprocess_core_s,
           "pipeline_images_per_s": {w: max(r) for w, r in pipeline.items()},
           "ratio": {w: max(r) / best_bare for w, r in pipeline.items()}}
    if not ex.cuda:  # what preprocessing alone leaves of the bare rate
        out["ceiling_serial"] = 1 / (1 + preprocess_core_s * best_bare)  # 0 workers: one after the other
        # workers beside an encoder whose threads keep every core busy: they take core-seconds from it
        out["ceiling_shared"] = 1 / (1 + preprocess_core_s * best_bare / torch.get_num_threads())
    if ex.cuda:
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if resident:
        out["bare_on_device_images_per_s"] = max(resident)
        out["ratio_on_device"] = {w: max(r) / max(resident) for w, r in pipeline.items()}
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
    ex = extractor(args, args.workers[0])
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
    parser.add_argument("--images", type=int, default=64,
                        help="images for the throughput runs (fewer: worker start-up weighs more)")
    parser.add_argument("--rss-images", type=int, help="N of the peak-RSS runs (N vs 4N); default --images")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+",
                        help="DataLoader workers of the pipeline runs, one run each (default: the config's "
                             "features.num_workers, then 0 and 1); the first also serves the peak-RSS runs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the main process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the measurements to this file (benchmarks/gpu.sh tabulates them)")
    parser.add_argument("--rss-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.passthrough = [a for a in sys.argv[1:]]
    config_workers = int(study_config(args)["features"]["num_workers"])
    args.workers = args.workers or [config_workers] + [w for w in (0, 1) if w != config_workers]
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
    if args.json:
        Path(args.json).write_text(json.dumps({"encoder": args.encoder, "family": family, "device": device,
                                               "resolution": args.resolution, "batch_size": args.batch_size,
                                               "images": args.images, **speed, "rss": {"n": small, "4n": large}},
                                              indent=1, default=str))
    print(f"device {device}; encoder {args.encoder} ({family}) at {args.resolution} px, batch {args.batch_size}, "
          f"{speed['torch_threads']} torch threads (bare and pipeline); {args.images} JPEGs of {args.image_size} px; "
          f"best of {args.repeats}")
    print(f"bare encoder   {speed['bare_images_per_s']:8.2f} images/s (tensors in memory)")
    for workers, rate in speed["pipeline_images_per_s"].items():
        note = " (config's features.num_workers)" if workers == config_workers else ""
        print(f"full pipeline  {rate:8.2f} images/s with {workers} workers: ratio {speed['ratio'][workers]:.3f}{note}")
    best = max(speed["ratio"], key=speed["ratio"].get)
    print(f"ratio pipeline/bare = {speed['ratio'][best]:.3f} at {best} workers, "
          f"{speed['ratio'].get(config_workers, float('nan')):.3f} at the config's {config_workers}  (goal >= 0.90)")
    print(f"preprocessing  {speed['preprocess_core_ms']:8.2f} ms per image on one core (decode, crop, resize, normalise)")
    if "ceiling_serial" in speed:
        print(f"ceiling set by preprocessing: {speed['ceiling_serial']:.3f} with 0 workers (in turn with the "
              f"encoder), {speed['ceiling_shared']:.3f} with workers on cores the encoder's "
              f"{speed['torch_threads']} threads keep busy")
    if "ratio_on_device" in speed:
        print(f"bare encoder   {speed['bare_on_device_images_per_s']:8.2f} images/s (tensors already on the GPU)")
        for workers, ratio in speed["ratio_on_device"].items():
            print(f"ratio pipeline/bare-on-GPU = {ratio:.3f} with {workers} workers")
    if small is None:
        return
    for key in small:
        print(f"peak {key:12s} N={n}: {small[key]:8.1f} MiB  4N={4 * n}: {large[key]:8.1f} MiB"
              f"  ratio {large[key] / small[key]:.3f}")
    print(f"peak RSS ratio 4N/N (main process) = {large['main_mib'] / small['main_mib']:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
