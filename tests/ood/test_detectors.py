import numpy as np
import pytest
import torch
from pytorch_ood import detector as reference
from torch import nn

from samderm.ood import DETECTORS, MSP, ODIN, Energy, Mahalanobis
from samderm.ood.metrics import ood_metrics

SETTINGS = {"msp": {}, "odin": {"temperature": 1000.0, "epsilon": 0.01}, "energy": {"temperature": 1.0}, "mahalanobis": {},
            "maxlogit": {}, "gen": {"gamma": 0.1, "top_m": 4}, "knn": {"k": 10}, "vim": {"principal_dim": 8},
            "relative_mahalanobis": {}}


def fitted(name, synthetic, **override):
    train_x, train_y = synthetic["train"]
    return DETECTORS[name](**{**SETTINGS[name], **override}).fit(train_x, train_y, synthetic["model"])


# the shifted set lies inside the training features' principal subspace, where ViM's virtual logit
# (the residual off that subspace) sees nothing: ViM separates it by its energy term alone
MIN_AUROC_SHIFTED = {"vim": 0.8}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_each_detector_separates_a_shifted_distribution(name, synthetic):
    detector = fitted(name, synthetic)
    auroc = ood_metrics(detector.predict(synthetic["id"]), detector.predict(synthetic["shifted"]))["auroc"]
    assert auroc > MIN_AUROC_SHIFTED.get(name, 0.95)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_each_detector_is_near_chance_on_identical_distributions(name, synthetic):
    detector = fitted(name, synthetic)
    auroc = ood_metrics(detector.predict(synthetic["id"]), detector.predict(synthetic["identical"]))["auroc"]
    assert 0.4 < auroc < 0.6


def test_odin_with_no_perturbation_and_unit_temperature_is_msp(synthetic):
    odin = fitted("odin", synthetic, temperature=1.0, epsilon=0.0)
    msp = fitted("msp", synthetic)
    for x in (synthetic["id"], synthetic["shifted"]):
        assert np.array_equal(odin.predict(x), msp.predict(x))
    # and the perturbation or the temperature alone does change the scores
    assert not np.array_equal(fitted("odin", synthetic, temperature=1.0, epsilon=0.01).predict(synthetic["id"]), msp.predict(synthetic["id"]))
    assert not np.array_equal(fitted("odin", synthetic, temperature=10.0, epsilon=0.0).predict(synthetic["id"]), msp.predict(synthetic["id"]))


def test_odin_perturbation_raises_in_distribution_confidence_more():
    # constructed so that in-distribution features (positive) pass a slope-1 path and OOD
    # features (negative) a slope-0.1 path: the paper's premise that in-distribution inputs
    # have larger gradients of the log-softmax
    model = nn.Sequential(nn.LeakyReLU(0.1), nn.Linear(4, 4, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(3 * torch.eye(4))
    rng = np.random.default_rng(0)
    in_dist = (np.eye(4)[rng.integers(0, 4, 200)] + 0.2 * rng.random((200, 4))).astype(np.float32)
    ood = -(np.eye(4)[rng.integers(0, 4, 200)] + 0.2 * rng.random((200, 4))).astype(np.float32)
    odin = ODIN(temperature=1000.0, epsilon=0.05).fit(in_dist, None, model)

    def gain(x):  # change of the max softmax at temperature T
        before = torch.softmax(model(torch.as_tensor(x)) / 1000.0, dim=1).max(dim=1).values
        after = torch.softmax(model(odin.perturb(x)) / 1000.0, dim=1).max(dim=1).values
        return (after - before).detach().numpy()

    id_gain, ood_gain = gain(in_dist), gain(ood)
    assert (id_gain > 0).all() and (ood_gain >= 0).all()
    assert id_gain.mean() > 2 * ood_gain.mean()


def test_logit_detectors_equal_pytorch_ood(synthetic):
    model, x = synthetic["model"], torch.as_tensor(np.concatenate([synthetic["id"], synthetic["shifted"]]))
    expected = {
        "msp": reference.MaxSoftmax(model).predict(x),
        "energy": reference.EnergyBased(model, t=10.0).predict(x),
        "odin": reference.ODIN(model, eps=0.01, temperature=100.0).predict(x),
    }
    ours = {
        "msp": fitted("msp", synthetic).predict(x.numpy()),
        "energy": fitted("energy", synthetic, temperature=10.0).predict(x.numpy()),
        "odin": fitted("odin", synthetic, temperature=100.0, epsilon=0.01).predict(x.numpy()),
    }
    for name in expected:
        np.testing.assert_allclose(ours[name], expected[name].detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_mahalanobis_matches_pytorch_ood_up_to_its_scale(synthetic):
    train_x, train_y = synthetic["train"]
    x = np.concatenate([synthetic["id"], synthetic["shifted"]])
    ours = Mahalanobis().fit(train_x, train_y).predict(x)  # the default: the papers' empirical covariance
    # pytorch-ood inverts the unnormalised scatter matrix (N times the covariance) and keeps a
    # 0.5 factor: its score is our squared distance / (2 N)
    theirs = reference.Mahalanobis(None).fit_features(torch.as_tensor(train_x), torch.as_tensor(train_y)).predict_features(torch.as_tensor(x))
    np.testing.assert_allclose(ours / (2 * len(train_x)), theirs.numpy(), rtol=1e-3)


def test_mahalanobis_uses_the_nearest_class_mean():
    features = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    detector = Mahalanobis().fit(features, np.array([0, 0, 1, 1]))
    # the shared covariance is diag(0, 1): 0 on the first axis is handled by the pseudo-inverse
    assert detector.predict(np.array([[10.0, 1.0], [0.0, 3.0]])) == pytest.approx([0.0, 4.0])


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(ValueError, match="unknown covariance estimator 'shrunk'"):
        Mahalanobis(covariance="shrunk")
    with pytest.raises(ValueError, match="N x D"):
        MSP().fit(None, None, nn.Identity()).predict(np.zeros(3))
    with pytest.raises(ValueError, match="no features"):
        Energy().fit(None, None, nn.Identity()).predict(np.zeros((0, 3)))
