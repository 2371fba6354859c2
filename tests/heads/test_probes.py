"""Probes: the published linear probe minimises PanDerm's objective (checked against scipy on an
objective written out here), the tuned linear probe and the kNN probe equal scikit-learn, the
majority baseline predicts the training prior, and the factory names what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from samderm.heads.probes import (KNNProbe, MajorityProbe, PublishedLinearProbe, TunedLinearProbe,
                                  build_probe)

N_CLASSES = 5
PRESENT = np.array([0, 1, 3, 4])  # class 2 is absent from every split
DIM = 24
# the reference's cost: feature_dim 24 x 4 classes in train / 100
PUBLISHED_C = 0.96


def make_split(rng, n, shift):
    """Imbalanced classes with overlapping, unequally scaled and offset features."""
    y = rng.choice(PRESENT, size=n, p=[0.4, 0.3, 0.2, 0.1])
    x = rng.normal(size=(n, DIM))
    x[np.arange(n), y] += shift
    x = x * np.linspace(0.5, 3.0, DIM) + np.linspace(-4.0, 6.0, DIM)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def splits():
    rng = np.random.default_rng(7)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (make_split(rng, n, 4.0) for n in (120, 60, 40))
    return x_train, y_train, x_val, y_val, x_test, y_test


# ---- the published linear probe ----------------------------------------------------------------

def objective(theta, x, y, C, squared=False, penalise_bias=False, class_weight=None):
    """(value, gradient) of weighted-mean cross-entropy + (1/C) 0.5 ||v|| on theta = [W.ravel(), b],
    float64; v = W, or [W, b] with ``penalise_bias``; ``squared`` uses 0.5/C ||v||^2 instead."""
    k = len(PRESENT)
    W, b = theta[:k * x.shape[1]].reshape(k, -1), theta[k * x.shape[1]:]
    target = np.searchsorted(PRESENT, y)
    z = x @ W.T + b
    w = np.ones(len(y)) if class_weight is None else class_weight[target]
    loss = np.sum(w * (logsumexp(z, axis=1) - z[np.arange(len(y)), target])) / w.sum()
    dz = w[:, None] * (softmax(z, axis=1) - np.eye(k)[target]) / w.sum()
    grad = np.concatenate([(dz.T @ x).ravel(), dz.sum(axis=0)])
    v = theta if penalise_bias else np.concatenate([W.ravel(), np.zeros(k)])
    norm = np.linalg.norm(v)
    if squared:
        return loss + 0.5 / C * norm ** 2, grad + v / C
    return loss + 0.5 / C * norm, grad + 0.5 / C * v / norm


def scipy_minimum(x, y, **variant):
    """An independent minimiser: scipy's L-BFGS-B on the flattened parameters, run to convergence."""
    start = np.full(len(PRESENT) * (x.shape[1] + 1), 0.01)
    return minimize(lambda theta: objective(theta, x, y, **variant), start, jac=True, method="L-BFGS-B",
                    options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12}).x


def trainval(splits):
    x_train, y_train, x_val, y_val, _, _ = splits
    return np.concatenate([x_train, x_val]).astype(np.float64), np.concatenate([y_train, y_val])


@pytest.fixture(scope="module")
def published(splits):
    """The fitted probe, its parameters as theta and the published objective's minimiser."""
    x_train, y_train, x_val, y_val, _, _ = splits
    probe = PublishedLinearProbe(N_CLASSES).fit(x_train, y_train, x_val, y_val)
    theta = np.concatenate([probe.coef_.ravel(), probe.intercept_]).astype(np.float64)
    return probe, theta, scipy_minimum(*trainval(splits), C=PUBLISHED_C)


def probabilities(theta, x):
    """softmax(x W^T + b) over the present classes."""
    k = len(PRESENT)
    return softmax(x @ theta[:-k].reshape(k, -1).T + theta[-k:], axis=1)


def published_value(theta, x, y):
    return objective(theta, x, y, PUBLISHED_C)[0]


def test_published_probe_reaches_the_minimum_of_the_published_objective(splits, published):
    probe, ours, best = published
    x, y = trainval(splits)
    k = len(PRESENT)
    assert np.linalg.norm(best[:-k]) > 0.1  # the minimum is off the kink of ||W|| at 0
    # equal, and ours not above the minimum, within the float32 precision the probe optimises in
    # as the reference does (2.5e-7 measured here)
    assert abs(published_value(ours, x, y) - published_value(best, x, y)) < 1e-5
    assert np.allclose(probe.predict_proba(x)[:, PRESENT], probabilities(best, x), atol=1e-3)


VARIANTS = {
    "squared penalty": {"C": PUBLISHED_C, "squared": True},
    "bias penalised": {"C": PUBLISHED_C, "penalise_bias": True},
    "C from n_classes": {"C": DIM * N_CLASSES / 100},
    "C without /100": {"C": DIM * len(PRESENT)},
    "class weights": {"C": PUBLISHED_C, "class_weight": "balanced"},
    "train only": {"C": PUBLISHED_C, "rows": "train"},
}


@pytest.mark.parametrize("name", VARIANTS)
def test_published_probe_does_not_minimise_a_variant_objective(splits, published, name):
    """Each variant's own minimum is clearly below where the probe lands, and the probe's
    probabilities are nearer those of the published minimum than the variant's (the bias is
    identified only up to a shift shared by all classes, so parameters are not compared)."""
    probe, ours, best_published = published
    variant = dict(VARIANTS[name])
    x_all, y_all = trainval(splits)
    x, y = (splits[0].astype(np.float64), splits[1]) if variant.pop("rows", None) == "train" else (x_all, y_all)
    if variant.get("class_weight") == "balanced":
        counts = np.bincount(np.searchsorted(PRESENT, y), minlength=len(PRESENT))
        variant["class_weight"] = len(y) / (len(PRESENT) * counts)
    best_variant = scipy_minimum(x, y, **variant)
    value = lambda theta: objective(theta, x, y, **variant)[0]  # noqa: E731
    assert value(ours) > value(best_variant) + 1e-4
    p = probe.predict_proba(x_all)[:, PRESENT]
    distance = lambda theta: np.abs(p - probabilities(theta, x_all)).max()  # noqa: E731
    assert distance(best_published) < 0.2 * distance(best_variant)


def test_published_probe_leaves_absent_classes_at_zero_is_seeded_and_keeps_the_global_rng(splits, published):
    probe = published[0]
    x_train, y_train, x_val, y_val, x_test, _ = splits
    p = probe.predict_proba(x_test)
    assert p.shape == (len(x_test), N_CLASSES) and p.dtype == np.float64
    assert np.all(p[:, 2] == 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert np.array_equal(probe.predict(x_test), p.argmax(axis=1))
    torch.manual_seed(12345)
    state = torch.get_rng_state()
    again = PublishedLinearProbe(N_CLASSES).fit(x_train, y_train, x_val, y_val).predict_proba(x_test)
    assert np.array_equal(p, again)
    assert torch.equal(state, torch.get_rng_state())


# ---- the tuned linear probe ----------------------------------------------------------------------

def sklearn_logreg(x_train, y_train, C, class_weight=None):
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(C=C, class_weight=class_weight, max_iter=1000, random_state=0)
    return scaler, model.fit(scaler.transform(x_train), y_train)


METRICS = {"macro_f1": lambda y, p: f1_score(y, p, average="macro", zero_division=0),
           "balanced_accuracy": balanced_accuracy_score}


@pytest.mark.parametrize("metric,class_weight", [("macro_f1", None), ("balanced_accuracy", "balanced")])
def test_tuned_probe_is_sklearn_logistic_regression_with_the_val_best_c(splits, metric, class_weight):
    x_train, y_train, x_val, y_val, x_test, _ = splits
    grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    probe = TunedLinearProbe(N_CLASSES, c_grid=grid[::-1], selection_metric=metric,
                             class_weight=class_weight).fit(x_train, y_train, x_val, y_val)
    fits = {C: sklearn_logreg(x_train, y_train, C, class_weight) for C in grid}
    scores = {C: METRICS[metric](y_val, model.predict(scaler.transform(x_val))) for C, (scaler, model) in fits.items()}
    assert len(set(scores.values())) > 2  # the grid matters on this data
    assert probe.val_scores_ == pytest.approx(scores)
    best = min(C for C in grid if scores[C] == max(scores.values()))  # ties: the smallest C
    assert probe.C_ == best
    scaler, model = fits[best]
    expected = np.zeros((len(x_test), N_CLASSES))
    expected[:, model.classes_] = model.predict_proba(scaler.transform(x_test))
    assert np.allclose(probe.predict_proba(x_test), expected, atol=1e-8)


def test_tuned_probe_breaks_ties_to_the_smallest_c_and_needs_val():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 3)) + 10.0 * y[:, None]  # every C separates the classes perfectly
    probe = TunedLinearProbe(2, c_grid=[100.0, 1.0, 0.1]).fit(x[::2], y[::2], x[1::2], y[1::2])
    assert set(probe.val_scores_.values()) == {1.0}
    assert probe.C_ == 0.1
    with pytest.raises(ValueError, match="val"):
        TunedLinearProbe(2).fit(x, y)


# ---- kNN ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,weights", [(11, "uniform"), (11, "distance"), (5, "distance")])
def test_knn_probe_is_sklearn_cosine_knn_on_train_standardised_features(splits, k, weights):
    x_train, y_train, _, _, x_test, _ = splits
    probe = KNNProbe(N_CLASSES, k=k, weights=weights).fit(x_train, y_train)
    scaler = StandardScaler().fit(x_train)
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", weights=weights).fit(scaler.transform(x_train), y_train)
    expected = np.zeros((len(x_test), N_CLASSES))
    expected[:, knn.classes_] = knn.predict_proba(scaler.transform(x_test))
    assert np.allclose(probe.predict_proba(x_test), expected, atol=1e-12)
    # the data tells these apart: raw features, the euclidean metric, the other vote
    raw = KNeighborsClassifier(n_neighbors=k, metric="cosine", weights=weights).fit(x_train, y_train)
    euclidean = KNeighborsClassifier(n_neighbors=k, weights=weights).fit(scaler.transform(x_train), y_train)
    other = KNeighborsClassifier(n_neighbors=k, metric="cosine", weights={"uniform": "distance", "distance": "uniform"}[weights])
    other.fit(scaler.transform(x_train), y_train)
    for model, z in ((raw, x_test), (euclidean, scaler.transform(x_test)), (other, scaler.transform(x_test))):
        assert not np.allclose(model.predict_proba(z), expected[:, knn.classes_], atol=1e-3)
    assert KNNProbe(N_CLASSES).k == 11


# ---- the majority baseline ----------------------------------------------------------------------

def test_majority_predicts_the_training_prior_with_zero_for_an_absent_class():
    y = np.array([3, 0, 0, 1, 3, 0])
    x = np.zeros((6, 2))
    probe = MajorityProbe(5).fit(x, y)
    p = probe.predict_proba(np.ones((3, 2)))
    assert np.allclose(p, [[3 / 6, 1 / 6, 0.0, 2 / 6, 0.0]] * 3)
    assert list(probe.predict(np.ones((3, 2)))) == [0, 0, 0]
    dummy = DummyClassifier(strategy="prior").fit(x, y)
    assert np.allclose(p[:, dummy.classes_], dummy.predict_proba(np.ones((3, 2))))
    # a tie goes to the first class, as DummyClassifier's argmax does
    assert list(MajorityProbe(4).fit(x[:4], [3, 1, 3, 1]).predict(x[:1])) == [1]


# ---- every probe, and the factory ----------------------------------------------------------------

@pytest.mark.parametrize("name,params", [("linear_probe", {"protocol": "published"}), ("linear_probe", {"protocol": "tuned"}),
                                         ("knn_probe", {"k": 3}), ("majority", {})])
def test_every_probe_gives_each_class_a_column(name, params):
    rng = np.random.default_rng(1)
    y = np.array([0, 1, 3] * 10)
    x = rng.normal(size=(30, 4)) + y[:, None]
    probe = build_probe(name, params, 5).fit(x[:21], y[:21], x[21:], y[21:])
    p = probe.predict_proba(x)
    assert p.shape == (30, 5) and np.all(p[:, [2, 4]] == 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert set(probe.predict(x)) <= {0, 1, 3}


def test_build_probe_passes_parameters_and_names_what_it_refuses():
    assert isinstance(build_probe("linear_probe", None, 3), PublishedLinearProbe)
    tuned = build_probe("linear_probe", {"protocol": "tuned", "class_weight": "balanced", "c_grid": [1.0]}, 3)
    assert isinstance(tuned, TunedLinearProbe) and tuned.class_weight == "balanced" and tuned.n_classes == 3
    assert build_probe("knn_probe", {"k": 7, "weights": "distance"}, 2).weights == "distance"
    refused = [("svm", {}, "svm"), ("knn_probe", {"neighbours": 3}, "neighbours"),
               ("linear_probe", {"protocol": "cv"}, "protocol"), ("linear_probe", {"c_grid": [1.0]}, "c_grid"),
               ("majority", {"k": 1}, "'k'"), ("knn_probe", {"weights": "rank"}, "weights"),
               ("linear_probe", {"protocol": "tuned", "selection_metric": "auc"}, "selection_metric")]
    for name, params, key in refused:
        with pytest.raises(ValueError, match=key):
            build_probe(name, params, 3)
    with pytest.raises(ValueError, match="k=40"):
        KNNProbe(2, k=40).fit(np.zeros((10, 2)), np.zeros(10, dtype=int))
