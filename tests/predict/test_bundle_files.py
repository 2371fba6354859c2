"""The bundle's files (the heads' copies, the gate's fit rows) are checked against the size and sha256
bundle.json recorded at write time: a damaged or unrecorded one is refused, never loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from samderm.heads import save_head
from samderm.io import file_digest
from samderm.ood import Mahalanobis
from samderm.predict.bundle import BundleError, GateSpec, HeadSpec, load_bundle, write_bundle
from tests.damage import DAMAGE, damage
from tests.predict.conftest import TASKS, train_head

FS = {"encoder": "e", "pooling": "mean", "resolution": 64, "crop": "full"}


@pytest.fixture
def bundle(tmp_path):
    """A bundle written by write_bundle from two saved heads; (its folder, the fit rows, the heads)."""
    x = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
    labels = np.arange(60) % len(TASKS["lesion"])
    heads = {"heads": train_head(x, "parallel", 1), "gate": train_head(x, "multihead", 2)}
    for name, model in heads.items():
        save_head(model, tmp_path / name / "model.pt")
    specs = {task: HeadSpec(tmp_path / "heads" / "model.pt", {}, FS) for task in TASKS}
    gate = GateSpec(tmp_path / "gate" / "model.pt", {}, FS, "lesion", "mahalanobis", {}, 1.0, x, labels)
    write_bundle(tmp_path / "models", specs, gate, {}, {}, None, {}, "0" * 64)
    return tmp_path / "models", x, labels, heads


def test_bundle_json_records_every_file_it_loads(bundle):
    root, x, labels, heads = bundle
    files = json.loads((root / "bundle.json").read_text())["files"]
    assert sorted(files) == ["gate_fit.pt", "heads/gate.pt", "heads/lesion.pt", "heads/malignancy.pt", "heads/skin.pt"]
    assert all(digest == file_digest(root / name) for name, digest in files.items())
    loaded = load_bundle(root)  # untouched: the same numbers
    xt = torch.from_numpy(x)
    assert all(torch.equal(loaded.heads[t](xt)[t], heads["heads"](xt)[t]) for t in TASKS)
    assert torch.equal(loaded.gate_model(xt)["lesion"], heads["gate"](xt)["lesion"])
    np.testing.assert_allclose(loaded.detector.predict(x), Mahalanobis().fit(x, labels).predict(x), rtol=1e-6)


@pytest.mark.parametrize("how", [*DAMAGE, "unrecorded"])
@pytest.mark.parametrize("name", ["heads/lesion.pt", "heads/gate.pt", "gate_fit.pt"])
def test_a_damaged_or_unrecorded_bundle_file_is_refused_naming_it_and_the_rebuild(bundle, name, how):
    root = bundle[0]
    if how == "unrecorded":
        content = json.loads((root / "bundle.json").read_text())
        del content["files"][name]
        (root / "bundle.json").write_text(json.dumps(content))
    else:
        damage(root / name, how)
    with pytest.raises(BundleError) as refused:
        load_bundle(root)
    said = "has no recorded checksum in" if how == "unrecorded" else "is damaged: "
    message = str(refused.value)
    assert f"{root / name} {said}" in message and f"{root / 'bundle.json'}" in message
    assert f"Rebuild the bundle: delete {root / 'bundle.json'} and run the study again" in message
    assert f"rm {root / 'bundle.json'} && snakemake --profile slurm" in message
