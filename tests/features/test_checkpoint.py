"""Checkpoints in the official format through the real download and build_sam2 path."""

from __future__ import annotations

import os

import pytest
import torch
from .conftest import RESOLUTION

from samderm.features.checkpoint import CheckpointError, download_checkpoint
from samderm.features.encoder import build_sam2_model
from samderm.io import sha256_file


def test_download_and_load_round_trip(official_checkpoint, http_server):
    folder, url = http_server
    os.symlink(official_checkpoint, folder / official_checkpoint.name)
    digest = sha256_file(official_checkpoint)
    dest = download_checkpoint(f"{url}/{official_checkpoint.name}", folder.parent / "got" / "tiny.pt", digest)
    model, loaded_digest = build_sam2_model("tiny", RESOLUTION, dest, digest)
    assert loaded_digest == digest
    saved = torch.load(official_checkpoint, weights_only=True)["model"]
    state = model.state_dict()
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in saved)


def test_download_with_bad_checksum_leaves_no_file(official_checkpoint, http_server):
    folder, url = http_server
    (folder / "small.pt").write_bytes(b"not the checkpoint")
    dest = folder.parent / "got" / "small.pt"
    with pytest.raises(CheckpointError, match=r"cannot download checkpoint .*small.pt: .*sha256 mismatch"):
        download_checkpoint(f"{url}/small.pt", dest, "0" * 64)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary left behind


def test_download_errors_name_the_url(http_server):
    _, url = http_server
    with pytest.raises(CheckpointError, match=r"cannot download checkpoint .*/absent.pt: .*404"):
        download_checkpoint(f"{url}/absent.pt", http_server[0].parent / "x.pt", "0" * 64)
    with pytest.raises(CheckpointError, match="a sha256 .* is required"):
        download_checkpoint(f"{url}/absent.pt", http_server[0].parent / "x.pt", None)


def test_local_checkpoint_with_bad_checksum_is_refused(official_checkpoint):
    with pytest.raises(CheckpointError, match=r"sam2.1_hiera_tiny.pt: sha256 .* does not match"):
        build_sam2_model("tiny", RESOLUTION, official_checkpoint, "f" * 64)


def test_checkpoint_with_wrong_keys_is_refused(tmp_path):
    path = tmp_path / "wrong.pt"
    torch.save({"model": {"image_encoder.not_a_weight": torch.zeros(3)}}, path)
    with pytest.raises(CheckpointError, match=r"wrong.pt does not load into SAM2.1 tiny: .*Missing key"):
        build_sam2_model("tiny", RESOLUTION, path)


def test_checkpoint_without_model_entry_is_refused(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"bare.pt: not an official SAM2 checkpoint \(no 'model' entry\)"):
        build_sam2_model("tiny", RESOLUTION, path)


class Payload:
    """An arbitrary object: weights_only=True must refuse to unpickle it."""


def test_checkpoint_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "pickle.pt"
    torch.save({"model": {}, "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"pickle.pt does not load .*Weights only load failed"):
        build_sam2_model("tiny", RESOLUTION, path)


def test_missing_checkpoint_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt does not exist"):
        build_sam2_model("tiny", RESOLUTION, tmp_path / "nope.pt")
