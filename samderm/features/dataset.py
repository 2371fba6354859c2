"""Datasets that DataLoader workers run: decode, render the augmented view, crop, preprocess,
so the encoder in the main process never waits on pixels."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from samderm.data.augment import render_view
from samderm.data.images import load_rgb
from samderm.features.crops import Box, load_mask


def render(row, with_mask: bool) -> tuple[Image.Image, Image.Image | None]:
    """The exact pixels of one view, and its mask (transformed alike) when asked and present."""
    image = load_rgb(row["path"])
    mask = load_mask(row["mask_path"], image.size) if with_mask and row["mask_path"] else None
    return render_view(image, row["transform"], mask)


class ViewPixels(Dataset):
    """(position, view as uint8 H x W x 3, mask as bool H x W or None): input to lesion segmentation."""

    def __init__(self, views: pd.DataFrame, use_mask_files: bool):
        self.views, self.use_mask_files = views, use_mask_files

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i: int):
        image, mask = render(self.views.iloc[i], self.use_mask_files)
        return i, np.asarray(image), None if mask is None else np.asarray(mask) > 0


class EncoderInputs(Dataset):
    """(position, encoder input): the view, cropped to its box (None = full), through ``transform``
    (the family's official preprocessing, or ``pixels`` when the GPU does it)."""

    def __init__(self, views: pd.DataFrame, transform: Callable[[Image.Image], torch.Tensor],
                 boxes: Sequence[Box | None] | None = None):
        self.views, self.transform = views, transform
        self.boxes = boxes if boxes is not None else [None] * len(views)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i: int):
        image, _ = render(self.views.iloc[i], with_mask=False)
        box = self.boxes[i]
        return i, self.transform(image.crop(box) if box else image)


class ShardBatches(Sampler[list[int]]):
    """Batches that never cross a shard boundary, so a resumed run batches each shard
    exactly as an uninterrupted one (CPU kernels can depend on the batch)."""

    def __init__(self, shards: Sequence[range], batch_size: int):
        self.shards, self.batch_size = shards, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for shard in self.shards:
            for start in range(shard.start, shard.stop, self.batch_size):
                yield list(range(start, min(start + self.batch_size, shard.stop)))

    def __len__(self) -> int:
        return sum(-(-len(s) // self.batch_size) for s in self.shards)


def worker_init(_: int) -> None:
    # workers only decode and resize; one thread each leaves the cores to the encoder
    torch.set_num_threads(1)


def collate_list(batch):
    return batch  # images differ in size: keep a list
