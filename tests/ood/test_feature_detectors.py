"""KNN, ViM, relative Mahalanobis, MaxLogit and GEN against their papers' equations, written out in
numpy in tests/ood/formulas.py, and against pytorch-ood where we keep our own."""

import numpy as np
import pytest
import torch
from pytorch_ood import detector as reference

from samderm.heads import HeadModel
from samderm.ood import GEN, KNN, Energy, Mahalanobis, MaxLogit, RelativeMahalanobis, ViM
from samderm.ood.errors import HyperParameterOutOfRange
from samderm.ood.metrics import ood_metrics
from samderm.ood.readout import HeadReadout, linear_readout
from tests.ood import formulas


def logits_np(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).double().numpy()


def test_knn_is_the_distance_to_the_kth_nearest_normalised_training_feature(synthetic):
    train_x, train_y = synthetic["train"]
    x = np.concatenate([synthetic["id"][:40], synthetic["shifted"][:40]])
    ours = KNN(k=7).fit(train_x, train_y).predict(x)
    np.testing.assert_allclose(ours, formulas.knn(train_x.astype(np.float64), x.astype(np.float64), k=7), rtol=1e-5, atol=1e-6)
    # normalisation matters: the unnormalised 7th-neighbour distance is another number
    assert not np.allclose(ours, np.sort(np.linalg.norm(x[:, None] - train_x[None], axis=2), axis=1)[:, 6], rtol=1e-2)


def test_knn_k_beyond_the_training_images_is_out_of_range(synthetic):
    train_x, train_y = synthetic["train"]
    with pytest.raises(HyperParameterOutOfRange, match="k=401"):
        KNN(k=401).fit(train_x, train_y)


def test_vim_equals_the_paper_on_the_penultimate_features(synthetic):
    train_x, train_y = synthetic["train"]
    model = synthetic["model"]  # Linear(8, 16) -> ReLU -> Linear(16, 4)
    x = np.concatenate([synthetic["id"][:50], synthetic["shifted"][:50]])
    ours = ViM(principal_dim=6).fit(train_x, train_y, model).predict(x)
    weight, bias = model[-1].weight.detach().double().numpy(), model[-1].bias.detach().double().numpy()
    expected = formulas.vim(logits_np(model[:-1], train_x), logits_np(model[:-1], x), weight, bias, 6)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)
    # another principal dimension gives other scores, so the test sees the parameter
    assert not np.allclose(expected, formulas.vim(logits_np(model[:-1], train_x), logits_np(model[:-1], x), weight, bias, 3), atol=1e-2)


def test_vim_sees_what_the_logits_cannot():
    # the logits read only the first four dimensions; the OOD images differ from in-distribution
    # ones only in the other four, where the training features barely vary
    rng = np.random.default_rng(0)

    def lesions(n):
        x = np.zeros((n, 8), np.float32)
        x[np.arange(n), rng.integers(0, 4, n)] = 5.0
        return x + np.concatenate([rng.normal(0, 1, (n, 4)), rng.normal(0, 0.05, (n, 4))], axis=1).astype(np.float32)

    head = torch.nn.Linear(8, 4)
    with torch.no_grad():
        head.weight.copy_(torch.cat([torch.eye(4), torch.zeros(4, 4)], dim=1))
        head.bias.zero_()
    in_dist, ood = lesions(200), lesions(200) + np.concatenate([np.zeros((200, 4)), rng.normal(0, 3, (200, 4))], axis=1).astype(np.float32)
    train = lesions(400)
    vim = ViM(principal_dim=4).fit(train, None, head)
    energy = Energy().fit(train, None, head)
    assert ood_metrics(vim.predict(in_dist), vim.predict(ood))["auroc"] > 0.99
    assert 0.4 < ood_metrics(energy.predict(in_dist), energy.predict(ood))["auroc"] < 0.6


def test_vim_dimension_must_leave_a_residual(synthetic):
    train_x, train_y = synthetic["train"]
    with pytest.raises(HyperParameterOutOfRange, match="principal_dim=16"):
        ViM(principal_dim=16).fit(train_x, train_y, synthetic["model"])
    with pytest.raises(HyperParameterOutOfRange, match="principal_dim=10 .* the 10 training images"):
        ViM(principal_dim=10).fit(train_x[:10], train_y[:10], synthetic["model"])
    with pytest.raises(ValueError, match="last layer is linear"):
        ViM(principal_dim=2).fit(train_x, train_y, lambda x: x)


@pytest.mark.parametrize("arch", ["parallel", "multihead"])
@pytest.mark.parametrize("cosine_scale", [None, 30.0])
def test_head_readout_is_penultimate_features_times_the_last_layer(arch, cosine_scale):
    torch.manual_seed(0)
    model = HeadModel(arch, {"skin": ["not_skin", "skin"], "lesion": ["MEL", "NV", "BCC"]}, 6, hidden=[5], cosine_scale=cosine_scale).eval()
    model.set_standardisation(torch.arange(6.0), torch.linspace(0.5, 2.0, 6))
    x = torch.randn(20, 6) * 3
    for head in ("skin", "lesion"):
        readout = HeadReadout(model, head)
        penultimate, weight, bias = linear_readout(readout)
        with torch.no_grad():
            logits = model(x)[head]
            np.testing.assert_allclose(penultimate(x) @ weight.T + bias, logits, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(readout(x), logits)
        if cosine_scale:  # the cosine layer's input is normalised, so ViM sees h / ||h||
            assert torch.allclose(penultimate(x).norm(dim=1), torch.ones(20))


def test_relative_mahalanobis_equals_the_paper_and_pytorch_ood(synthetic):
    train_x, train_y = synthetic["train"]
    train_x = train_x.astype(np.float64)
    x = np.concatenate([synthetic["id"][:60], synthetic["shifted"][:60]]).astype(np.float64)
    ours = RelativeMahalanobis().fit(train_x, train_y).predict(x)  # the default: empirical covariances
    np.testing.assert_allclose(ours, formulas.relative_mahalanobis(train_x, train_y, x), rtol=1e-6, atol=1e-6)
    # pytorch-ood's RMD inverts the unnormalised scatter matrices (N times the covariances): 1/N of ours
    as32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    theirs = reference.RMD(None).fit_features(as32(train_x), torch.as_tensor(train_y)).predict_features(as32(x))
    np.testing.assert_allclose(ours / len(train_x), theirs.numpy(), rtol=1e-4, atol=1e-7)
    # and it is not the plain Mahalanobis score
    assert not np.allclose(ours, Mahalanobis().fit(train_x, train_y).predict(x))


def test_maxlogit_is_the_negative_largest_logit(synthetic):
    x = np.concatenate([synthetic["id"][:30], synthetic["shifted"][:30]])
    ours = MaxLogit().fit(None, None, synthetic["model"]).predict(x)
    np.testing.assert_allclose(ours, formulas.max_logit(logits_np(synthetic["model"], x)), rtol=1e-6)


@pytest.mark.parametrize("gamma,top_m", [(0.1, 4), (0.5, 2), (2.0, 10)])
def test_gen_equals_the_paper_and_pytorch_ood_times_m(synthetic, gamma, top_m):
    x = np.concatenate([synthetic["id"][:30], synthetic["shifted"][:30]])
    # tempered logits keep every probability away from pytorch-ood's clamp at 1e-7
    logits = logits_np(synthetic["model"], x) / 20
    ours = GEN(gamma=gamma, top_m=top_m).fit(None, None, lambda t: synthetic["model"](t) / 20).predict(x)
    np.testing.assert_allclose(ours, formulas.gen(logits, gamma, top_m), rtol=1e-6)
    # pytorch-ood averages the same terms: ours = its score times the number of terms
    theirs = reference.GEN.score(torch.as_tensor(logits), gamma=gamma, M=top_m).numpy()
    np.testing.assert_allclose(ours, theirs * min(top_m, logits.shape[1]), rtol=1e-5)


def test_gen_rejects_bad_settings():
    with pytest.raises(ValueError, match="gamma > 0"):
        GEN(gamma=0.0)
