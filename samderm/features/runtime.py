"""What every encoder pass shares: the device, the DataLoader, the package versions it records."""

from __future__ import annotations

import ctypes
import logging
import platform
from importlib.metadata import PackageNotFoundError, version

import torch
from torch.utils.data import DataLoader

from samderm.features.dataset import ShardBatches, worker_init

log = logging.getLogger(__name__)
# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
PACKAGES = ("torch", "torchvision", "sam2", "segment-anything", "timm", "numpy", "pillow", "samderm")


def resolve_device(setting: str) -> torch.device:
    """auto = cuda when visible, else cpu, said in the log; cuda when none is visible is an error."""
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        log.info("using GPU %s", torch.cuda.get_device_name(0))
        return torch.device("cuda")
    if setting == "cuda":
        raise RuntimeError("features.device is cuda but torch sees no GPU")
    log.warning("no GPU visible (torch.cuda.is_available() is False): extracting on CPU")
    return torch.device("cpu")


def keep_freed_memory() -> None:
    """Keep freed blocks of up to 32 MiB in the heap (glibc; elsewhere nothing), so every batch's
    activations reuse pages already mapped: by default glibc unmaps them between batches and the next
    batch page-faults them in again (64 images of vit_tiny on 2 cores: 1.4e5 faults, ~0.4 s of 2.6 s)."""
    if platform.system() != "Linux":
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the process's own C library
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's ceiling for this setting
        mallopt(M_TRIM_THRESHOLD, 2**30)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # segment-anything / timm only where a study uses them
            versions[name] = "not installed"
    return versions


def make_loader(dataset, shards, batch_size: int, num_workers: int, pin: bool, collate=None) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=ShardBatches(shards, batch_size),
        num_workers=num_workers,
        pin_memory=pin,
        worker_init_fn=worker_init,
        collate_fn=collate,
        # two batches decoded ahead per worker keep the encoder fed; more only holds memory
        prefetch_factor=2 if num_workers else None,
    )
