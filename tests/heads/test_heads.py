"""HeadModel: both architectures, the standardisation buffer, cosine layer, model.pt round trip."""

from __future__ import annotations

import pytest
import torch

from samderm.heads import FORMAT, HeadModel, load_head, save_head
from samderm.io import CorruptFileError, digest_sidecar, file_digest, read_json, write_json
from tests.damage import DAMAGE, damage

TASKS = {"skin": ["not_skin", "skin"], "lesion": ["MEL", "NV", "BCC"], "malignancy": ["benign", "malignant"]}


def make(arch="parallel", cosine=None):
    torch.manual_seed(0)
    model = HeadModel(arch, TASKS, 6, hidden=[8, 5], dropout=0.0, cosine_scale=cosine)
    model.set_standardisation(torch.arange(6.0), torch.tensor([1.0, 2.0, 3.0, 0.0, 1.0, 1.0]))
    return model.eval()


@pytest.mark.parametrize("arch", ["parallel", "multihead"])
def test_forward_gives_logits_per_task(arch):
    out = make(arch)(torch.randn(4, 6))
    assert {t: tuple(v.shape) for t, v in out.items()} == {"skin": (4, 2), "lesion": (4, 3), "malignancy": (4, 2)}
    assert list(make(arch)(torch.randn(4, 6), tasks=["lesion"])) == ["lesion"]


def test_parallel_branches_share_nothing_and_multihead_shares_a_trunk():
    parallel, multihead = make("parallel"), make("multihead")
    assert all(not set(map(id, parallel.branches[a].parameters())) & set(map(id, parallel.branches[b].parameters()))
               for a in TASKS for b in TASKS if a != b)
    assert sum(p.numel() for p in multihead.parameters()) < sum(p.numel() for p in parallel.parameters())


def test_standardisation_is_inside_the_model_and_differentiable():
    model = make("multihead")
    x = torch.randn(3, 6, requires_grad=True)
    z = (x.detach() - torch.arange(6.0)) / torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0, 1.0])  # zero std -> 1
    expected = model.heads["lesion"](model.trunk(z))
    assert torch.allclose(model(x)["lesion"], expected)
    model(x)["lesion"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_cosine_head_logits_are_bounded_by_the_scale():
    out = make("parallel", cosine=30.0)(100 * torch.randn(50, 6))
    assert all(v.abs().max() <= 30.0 + 1e-4 for v in out.values())
    assert max(v.abs().max() for v in out.values()) > 1.0


@pytest.mark.parametrize("arch,cosine", [("parallel", None), ("multihead", 30.0)])
def test_model_pt_round_trip_with_weights_only(tmp_path, arch, cosine):
    model = make(arch, cosine)
    save_head(model, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["format"] == FORMAT and payload["arch"] == arch and payload["input_dim"] == 6
    assert payload["tasks"] == TASKS and payload["arch_config"]["hidden"] == [8, 5]
    loaded = load_head(tmp_path / "model.pt")
    x = torch.randn(5, 6)
    for task, logits in model(x).items():
        assert torch.equal(loaded(x)[task], logits)


def test_the_same_head_saved_twice_gives_the_same_bytes(tmp_path):
    """model.pt is byte-reproducible (a rerun of a study writes identical files), though each
    write goes through a temporary file of a random name."""
    model = make("parallel", None)
    save_head(model, tmp_path / "a/model.pt")
    save_head(model, tmp_path / "b/model.pt")
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/model.pt").read_bytes()


def test_load_head_refuses_other_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    write_json(file_digest(tmp_path / "other.pt"), digest_sidecar(tmp_path / "other.pt"))  # intact, not a head
    with pytest.raises(ValueError, match="other.pt: not a samderm head"):
        load_head(tmp_path / "other.pt")


@pytest.mark.parametrize("how", [*DAMAGE, "unrecorded"])
def test_a_damaged_or_unrecorded_model_pt_is_refused_naming_it_and_the_rebuild(tmp_path, how):
    model, path = make("multihead"), tmp_path / "run" / "model.pt"
    save_head(model, path)
    assert read_json(tmp_path / "run" / "model.pt.sha256") == file_digest(path)
    x = torch.randn(5, 6)
    assert all(torch.equal(load_head(path)(x)[t], logits) for t, logits in model(x).items())  # untouched: the same

    digest_sidecar(path).unlink() if how == "unrecorded" else damage(path, how)
    with pytest.raises(CorruptFileError) as refused:
        load_head(path)
    said = "has no recorded checksum in" if how == "unrecorded" else "is damaged: "
    assert f"{path} {said}" in str(refused.value) and f"{path}.sha256" in str(refused.value)
    assert "Rebuild it: delete it and run the study again" in str(refused.value)
    assert f"rm {path} && snakemake --profile slurm" in str(refused.value)


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="'ensemble'"):
        HeadModel("ensemble", TASKS, 6)


def test_dropout_keeps_units_with_probability_one_minus_p_and_rescales_them():
    from samderm.heads.layers import Dropout
    p, x = 0.2, torch.ones(400, 500, requires_grad=True)
    dropout = Dropout(p)
    torch.manual_seed(3)
    out = dropout(x)
    kept = out != 0
    assert set(out.unique().tolist()) == {0.0, 1.0 / (1.0 - p)}
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005  # 200,000 draws: 4.5 standard errors
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # the gradient passes the same mask and scale
    torch.manual_seed(3)
    assert torch.equal(Dropout(p)(x), out)  # the global seed fixes the masks
    torch.manual_seed(4)
    assert not torch.equal(Dropout(p)(x), out)
    assert torch.equal(dropout.eval()(x), x)
