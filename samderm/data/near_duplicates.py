"""Near-duplicate images join one split group: perceptual hashes within a few bits, union-find.

ISIC 2019 has images without a lesion_id and the same lesion photographed twice across its
sources (resized, re-encoded). Images whose 64-bit pHash differ in at most ``max_bits`` bits
are merged with their lesion groups, so no copy of a test image is ever trained on."""

from __future__ import annotations

import logging
import imagehash
import numpy as np
import pandas as pd
from PIL import Image

log = logging.getLogger(__name__)

HASH_BITS = 64
GROUPED_SOURCES = ("lesion", "not_skin")  # the sources that splits assign by group
PAIR_COLUMNS = ["image_id", "twin_id", "bits", "group_id"]


def perceptual_hash(image: Image.Image) -> str:
    """The 64-bit DCT perceptual hash (imagehash.phash) as 16 hex digits."""
    return str(imagehash.phash(image, hash_size=8))


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (np.bitwise_count from numpy 2; the project also allows numpy 1.24)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint8).reshape(*values.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.int64)


def _chunks(max_bits: int) -> list[tuple[int, int]]:
    """``max_bits + 1`` bit ranges covering the hash: two hashes within max_bits agree on one (pigeonhole)."""
    edges = np.linspace(0, HASH_BITS, max_bits + 2).astype(int)
    return list(zip(edges[:-1], edges[1:]))


def near_pairs(hashes: list[str], max_bits: int) -> pd.DataFrame:
    """Index pairs (i < j) whose hashes differ in at most ``max_bits`` bits, with that number.

    Multi-index search: images that agree on one of max_bits + 1 bit ranges are candidates
    (found by sorting on that range, in numpy); only candidates have their bits counted,
    instead of all n^2 pairs."""
    values = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    n = len(values)
    candidates = []
    for lo, hi in _chunks(max_bits):
        key = (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        # after sorting, each pair with one key is (k, k + d) for some distance d within a run
        for d in range(1, n):
            same = np.flatnonzero(sorted_key[:-d] == sorted_key[d:])
            if not len(same):
                break
            a, b = order[same], order[same + d]
            candidates.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    codes = np.unique(np.concatenate(candidates)) if candidates else np.zeros(0, dtype=np.int64)
    i, j = codes // max(n, 1), codes % max(n, 1)
    bits = popcount(values[i] ^ values[j])
    keep = bits <= max_bits
    return pd.DataFrame({"i": i[keep], "j": j[keep], "bits": bits[keep]})


def near_pairs_between(queries: list[str], references: list[str], max_bits: int) -> pd.DataFrame:
    """Pairs (``query`` index, ``reference`` index, ``bits``) of a query hash and a reference hash
    within ``max_bits`` bits: near_pairs over both lists, only the pairs across them."""
    pairs = near_pairs([*queries, *references], max_bits)
    n = len(queries)
    across = pairs[(pairs["i"] < n) & (pairs["j"] >= n)]  # near_pairs gives i < j: a query comes first
    return pd.DataFrame({"query": across["i"].to_numpy(), "reference": across["j"].to_numpy() - n,
                         "bits": across["bits"].to_numpy()})


def near_duplicate_groups(manifest: pd.DataFrame, max_bits: int | None) -> tuple[pd.Series, pd.DataFrame]:
    """(group_id per manifest row, the merging pairs).

    group_id is the lesion_id, except that lesion groups linked by a near-duplicate pair
    (union-find over lesion_ids) all take the smallest lesion_id among them. Only ok rows of
    the grouped sources take part; pairs within one lesion group merge nothing and are not listed."""
    group_id = manifest["lesion_id"].copy()
    if max_bits is None:
        return group_id, pd.DataFrame(columns=PAIR_COLUMNS)
    rows = manifest[(manifest["status"] == "ok") & manifest["source"].isin(GROUPED_SOURCES) & (manifest["phash"] != "")]
    pairs = near_pairs(rows["phash"].tolist(), max_bits)
    lesion = rows["lesion_id"].to_numpy()
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees flat
            x = parent[x]
        return x

    for i, j in zip(pairs["i"], pairs["j"]):
        a, b = root(lesion[i]), root(lesion[j])
        if a != b:
            parent[max(a, b)] = min(a, b)  # the smaller id is the root: the same groups for any pair order
    merged = {x: root(x) for x in parent}
    group_id.loc[rows.index] = [merged.get(x, x) for x in lesion]
    linking = pairs[lesion[pairs["i"]] != lesion[pairs["j"]]]
    ids = rows["image_id"].to_numpy()
    table = pd.DataFrame({
        "image_id": ids[linking["i"]], "twin_id": ids[linking["j"]], "bits": linking["bits"].to_numpy(),
        "group_id": [merged[x] for x in lesion[linking["i"]]],
    }, columns=PAIR_COLUMNS)
    return group_id, table


def merged_group_counts(manifest: pd.DataFrame) -> pd.Series:
    """Per source: lesion groups absorbed into another group by near-duplicates (lesion_ids - group_ids)."""
    ok = manifest[manifest["status"] == "ok"]
    return ok.groupby("source")["lesion_id"].nunique() - ok.groupby("source")["group_id"].nunique()
