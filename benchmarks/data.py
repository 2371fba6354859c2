"""Data-layer speed, measured side by side in one run.

1. Manifest decode check: images/s with --threads workers against 1 worker on the same
   JPEGs (goal: ratio >= 0.8 x threads, PIL releases the GIL while decoding).
2. Splits at ISIC 2019 scale (25,331 images, lesion groups): make_splits (grouped greedy
   three-way split + 5 folds) against one sklearn StratifiedGroupKFold pass on the same rows
   (goal: ratio <= 3, so the split never matters next to feature extraction).
3. Rendering an augmented copy (render_view) against decoding its original (load_rgb):
   informational, the extra CPU an augmented view costs extract_features' loader workers.
4. Near-duplicates: the pHash that the decode check adds per image (goal: <= 0.5 x the decode),
   and the bucketed search over 25,331 hashes against numpy all-pairs (goal: >= 10 x faster).

    .venv/bin/python benchmarks/data.py
    .venv/bin/python benchmarks/data.py --images 200 --threads 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold

from samderm.data.augment import render_view, sample_transform
from samderm.data.images import load_rgb
from samderm.data.manifest import check_images
from samderm.data.near_duplicates import near_pairs, perceptual_hash, popcount
from samderm.data.splits import make_splits

from isic2019_scale import ISIC_2019_COUNTS  # beside this script in benchmarks/

AUG = {"hflip": 0.5, "vflip": 0.5, "rotation_degrees": 180,
       "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02}}


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def decode_ratio(folder: Path, n: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):  # ISIC-like 1024 x 768 photographs (smooth noise compresses like photos)
        small = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        path = folder / f"im{i:04d}.jpg"
        Image.fromarray(small).resize((1024, 768), Image.BICUBIC).save(path, quality=90)
        paths.append(str(path))
    rows = lambda: [{"path": p, "status": "ok", "reason": ""} for p in paths]  # noqa: E731
    one = timed(lambda: check_images(rows(), 1))
    many = timed(lambda: check_images(rows(), threads))
    print(f"1. decode check: {n / one:.1f} img/s (1 thread), {n / many:.1f} img/s ({threads} threads), "
          f"speed-up {one / many:.2f} (goal >= {0.8 * threads:.1f})")


def isic_scale_manifest() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for cls, n in ISIC_2019_COUNTS.items():
        lesion = 0
        while n > 0:
            size = min(n, int(rng.choice([1, 1, 1, 2, 3, 5])))
            rows += [{"image_id": f"{cls}{lesion}_{k}", "source": "lesion", "lesion_class": cls,
                      "lesion_id": f"{cls}_L{lesion}", "group_id": f"{cls}_L{lesion}", "status": "ok"} for k in range(size)]
            lesion, n = lesion + 1, n - size
    return pd.DataFrame(rows)


def split_ratio() -> None:
    manifest = isic_scale_manifest()
    cfg = {"seed": 0, "fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "folds": 5, "ood_val_fraction": 0.5}
    ours = timed(lambda: make_splits(manifest, cfg))
    kfold = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    sklearn = timed(lambda: list(kfold.split(manifest, manifest["lesion_class"], manifest["lesion_id"])))
    print(f"2. splits of {len(manifest)} images: make_splits {ours:.2f} s, StratifiedGroupKFold {sklearn:.2f} s, "
          f"ratio {ours / sklearn:.2f} (goal <= 3)")


def render_ratio(folder: Path) -> None:
    path = folder / "im0000.jpg"
    image = load_rgb(path)
    transform = sample_transform("im0000", 1, 0, AUG)
    load = timed(lambda: load_rgb(path), repeat=5)
    render = timed(lambda: render_view(image, transform), repeat=5)
    print(f"3. augmented copy: render {render * 1000:.1f} ms vs decode {load * 1000:.1f} ms, ratio {render / load:.2f} (informational)")


def all_pairs_count(values: np.ndarray, max_bits: int, block: int = 2048) -> int:
    """Pairs within max_bits by comparing every pair in numpy blocks (the O(n^2) baseline)."""
    found = 0
    for start in range(0, len(values), block):
        bits = popcount(values[start:start + block, None] ^ values[None, :])
        found += int(np.triu(bits <= max_bits, k=start + 1).sum())
    return found


def near_duplicate_ratio(folder: Path, max_bits: int = 4) -> None:
    path = folder / "im0000.jpg"
    decode = timed(lambda: load_rgb(path), repeat=5)
    image = load_rgb(path)
    phash = timed(lambda: perceptual_hash(image), repeat=5)
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**63, sum(ISIC_2019_COUNTS.values()), dtype=np.uint64)
    values[:500] = values[500:1000] ^ np.uint64(0b101)  # 500 planted near-duplicates (2 bits)
    hashes = [f"{v:016x}" for v in values.tolist()]
    bucketed = timed(lambda: near_pairs(hashes, max_bits))
    brute = timed(lambda: all_pairs_count(values, max_bits))
    assert len(near_pairs(hashes, max_bits)) == all_pairs_count(values, max_bits)
    print(f"4. near-duplicates: pHash {phash * 1000:.1f} ms vs decode {decode * 1000:.1f} ms per 1024x768 image "
          f"(ratio {phash / decode:.2f}, goal <= 0.5); search of {len(hashes)} hashes: bucketed {bucketed:.2f} s, "
          f"all pairs {brute:.2f} s, speed-up {brute / bucketed:.1f} (goal >= 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        decode_ratio(Path(tmp), args.images, args.threads)
        split_ratio()
        render_ratio(Path(tmp))
        near_duplicate_ratio(Path(tmp))


if __name__ == "__main__":
    main()
