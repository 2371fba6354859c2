"""model.pt: a dict of plain types and tensors (loads with ``weights_only=True``), beside it
model.pt.sha256: its size and sha256, checked before it is loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from samderm.heads.model import HeadModel
from samderm.io import atomic_path, check_sidecar_digest, record_digest

FORMAT = "samderm-head/1"


def save_head(model: HeadModel, path: str | Path) -> None:
    payload = {"format": FORMAT, **model.describe(),
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: given a path, torch names the zip's folder after the random tmp name
            torch.save(payload, fh)
        record_digest(tmp, path)


def load_head(path: str | Path, map_location: str | torch.device = "cpu", verified: bool = False) -> HeadModel:
    """The head in ``path``, refused unless it has the size and sha256 of its sidecar; ``verified``: the
    caller checked the file against its own record (the bundle keeps its heads' digests in bundle.json)."""
    if not verified:
        check_sidecar_digest(path)
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a samderm head (expected format '{FORMAT}')")
    cfg = payload["arch_config"]
    model = HeadModel(payload["arch"], payload["tasks"], payload["input_dim"], hidden=cfg["hidden"],
                      dropout=cfg["dropout"], cosine_scale=cfg["cosine_scale"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()
