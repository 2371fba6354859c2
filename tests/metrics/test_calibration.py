"""ECE, NLL, Brier and temperature scaling against values worked out by hand in each test."""

import math

import numpy as np
import pytest

from samderm.metrics.calibration import (AT_SEARCH_BOUND, FITTED, LOG_T_BOUND, VAL_ERROR_FREE, brier_score,
                                         calibration_metrics, expected_calibration_error, fit_temperature,
                                         negative_log_likelihood, reliability_bins, scaled_probabilities)

# four predictions of two classes: top-label confidences 0.9, 0.8, 0.7, 0.6; the 0.8 one is wrong
P = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
Y = np.array([0, 1, 1, 1])


def test_ece_equal_width_bins_by_hand():
    # 5 bins (0,.2] (.2,.4] (.4,.6] (.6,.8] (.8,1]: {0.6 right} {0.7 right, 0.8 wrong} {0.9 right}
    # ECE = 1/4 |1 - .6| + 2/4 |.5 - .75| + 1/4 |1 - .9| = .1 + .125 + .025
    assert expected_calibration_error(P, Y, 5, "width") == pytest.approx(0.25, abs=1e-12)
    # bins of unequal size weigh by size: three classes, confidences .4 (right) | .9 (right) .8 (wrong) .7 (right)
    three = np.array([[.4, .3, .3], [.9, .05, .05], [.1, .8, .1], [.2, .1, .7]])
    # 1/4 |1 - .4| + 3/4 |2/3 - .8| = .15 + .1 (an unweighted mean of the two gaps would be .367)
    assert expected_calibration_error(three, np.array([0, 0, 0, 2]), 2, "width") == pytest.approx(0.25, abs=1e-12)
    # one bin: |accuracy .75 - mean confidence .75| = 0
    assert expected_calibration_error(P, Y, 1, "width") == pytest.approx(0.0, abs=1e-12)


def test_ece_equal_mass_bins_by_hand():
    # 2 bins of 2 sorted confidences: {.6, .7} both right: |1 - .65|; {.8 wrong, .9 right}: |.5 - .85|
    assert expected_calibration_error(P, Y, 2, "mass") == pytest.approx(0.5 * 0.35 + 0.5 * 0.35, abs=1e-12)
    # 3 bins split 2, 1, 1: 2/4 |1 - .65| + 1/4 |0 - .8| + 1/4 |1 - .9|
    assert expected_calibration_error(P, Y, 3, "mass") == pytest.approx(0.175 + 0.2 + 0.025, abs=1e-12)
    # 4 bins of one prediction each: mean of |correct - confidence| = (.4 + .3 + .8 + .1) / 4
    assert expected_calibration_error(P, Y, 4, "mass") == pytest.approx(0.4, abs=1e-12)


def test_reliability_bins_count_every_prediction_once():
    bins = reliability_bins(P, Y, 5, "width")
    assert bins.count.tolist() == [0, 0, 1, 2, 1]
    assert bins.accuracy[3] == pytest.approx(0.5) and bins.confidence[3] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="binning"):
        reliability_bins(P, Y, 5, "quantiles")


def test_nll_and_brier_by_hand():
    assert negative_log_likelihood(P, Y) == pytest.approx(-(math.log(.9) + math.log(.2) + math.log(.7) + math.log(.6)) / 4)
    # sum over both classes of squared errors: .02 + 1.28 + .18 + .32, over 4 images
    assert brier_score(P, Y) == pytest.approx(1.8 / 4)
    three = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]])
    # 0 + (.25 + .25) + (.04 + .04 + .16), over 3 images
    assert brier_score(three, np.array([0, 1, 2])) == pytest.approx(0.74 / 3)
    assert negative_log_likelihood(three[1:], np.array([1, 2])) == pytest.approx(-(math.log(.5) + math.log(.6)) / 2)


def _labels_drawn_at(temperature, n=20000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, k))
    z = logits / temperature
    p_true = np.exp(z - z.max(axis=1, keepdims=True))
    p_true /= p_true.sum(axis=1, keepdims=True)
    labels = (rng.random(n)[:, None] > np.cumsum(p_true, axis=1)).sum(axis=1)
    model = np.exp(logits - logits.max(axis=1, keepdims=True))
    return model / model.sum(axis=1, keepdims=True), labels


@pytest.mark.parametrize("temperature", [2.5, 0.5])
def test_temperature_scaling_recovers_the_temperature_labels_were_drawn_with(temperature):
    probabilities, labels = _labels_drawn_at(temperature)
    fit = fit_temperature(probabilities, labels)
    assert fit.status == FITTED
    fitted = fit.temperature
    assert fitted == pytest.approx(temperature, rel=0.05)
    scaled = scaled_probabilities(probabilities, fitted)
    assert np.array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    before, after = calibration_metrics(probabilities, labels, 15), calibration_metrics(scaled, labels, 15)
    assert after["accuracy"] == before["accuracy"]
    assert after["nll"] < before["nll"] and after["ece_width"] < before["ece_width"]


def test_scaling_by_hand_and_ties_keep_the_argmax():
    # T = 2 on p = (.8, .2): softmax(log p / 2) = sqrt(p) normalised
    assert scaled_probabilities(np.array([[0.8, 0.2]]), 2.0)[0, 0] == pytest.approx(math.sqrt(.8) / (math.sqrt(.8) + math.sqrt(.2)))
    tied = np.array([[0.4, 0.4, 0.2], [0.0, 0.5, 0.5]])
    for t in (0.1, 1.0, 10.0):
        assert scaled_probabilities(tied, t).argmax(axis=1).tolist() == [0, 1]


def _nll_over(logits, labels, temperatures):
    """Mean -log softmax(logits / T)[label] for each T, written out in numpy."""
    nll = []
    for t in temperatures:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll.append(-log_p[np.arange(len(labels)), labels].mean())
    return np.array(nll)


def _overconfident_head(n=20000, k=5, seed=0):
    """A calibrated model's logits z (labels drawn from softmax(z)) and a head 7.5 times as sure:
    probabilities softmax(7.5 z), a third of them below 1e-12, stored as float32 like the heads'."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.5, size=(n, k))
    calibrated = np.exp(z - z.max(axis=1, keepdims=True))
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    labels = (rng.random(n)[:, None] > np.cumsum(calibrated, axis=1)).sum(axis=1)
    head_logits = 7.5 * z
    p = np.exp(head_logits - head_logits.max(axis=1, keepdims=True))
    return head_logits, (p / p.sum(axis=1, keepdims=True)).astype(np.float32), labels


def test_an_overconfident_head_gets_its_temperature_back_though_a_third_of_its_probabilities_are_below_1e_12():
    logits, probabilities, labels = _overconfident_head()
    assert np.mean(probabilities < 1e-12) > 0.3  # a clip at 1e-12 flattens these logits (T 6.7 fitted)
    fit = fit_temperature(probabilities, labels)
    assert fit.status == FITTED
    assert fit.temperature == pytest.approx(7.5, rel=0.02)
    # the NLL minimum of the head's own logits, on a fine grid
    grid = np.exp(np.linspace(np.log(6), np.log(9), 401))
    assert fit.temperature == pytest.approx(grid[_nll_over(logits, labels, grid).argmin()], rel=1.5e-3)


def test_exact_zero_probabilities_give_a_finite_fitted_temperature():
    # float32 softmax underflows to 0, also for the true class of a confidently wrong prediction
    _, probabilities, labels = _overconfident_head(n=4000, seed=1)
    wrong = np.zeros((20, 5), dtype=np.float32)
    wrong[:, 0] = 1.0
    probabilities, labels = np.concatenate([probabilities, wrong]), np.concatenate([labels, np.ones(20, dtype=int)])
    assert np.sum(probabilities == 0) >= 80
    fit = fit_temperature(probabilities, labels)
    assert fit.status == FITTED and np.isfinite(fit.temperature)
    # below float32's smallest normal value a stored probability says nothing more: log p from there
    logits = np.log(np.maximum(probabilities.astype(float), np.finfo(np.float32).tiny))
    grid = np.exp(np.linspace(np.log(4), np.log(16), 701))
    assert fit.temperature == pytest.approx(grid[_nll_over(logits, labels, grid).argmin()], rel=2e-3)
    assert np.isfinite(calibration_metrics(scaled_probabilities(probabilities, fit.temperature), labels, 10)["nll"])


def test_an_error_free_val_set_keeps_t_1_because_nll_falls_without_end():
    fit = fit_temperature(P[[0, 2, 3]], Y[[0, 2, 3]])
    assert (fit.temperature, fit.status) == (1.0, VAL_ERROR_FREE)
    # why: on every right prediction -log p(label) shrinks with T, down to the search's lower bound
    grid = np.exp(np.linspace(-LOG_T_BOUND, LOG_T_BOUND, 101))
    nll = _nll_over(np.log(P[[0, 2, 3]]), Y[[0, 2, 3]], grid)
    assert np.all(np.diff(nll) >= 0) and nll[0] < nll[50]


@pytest.mark.parametrize("probabilities, labels, bound", [
    # one error, an exact tie (argmax takes the first class): its NLL is log 2 at every T, the others' falls as T
    # shrinks, to exactly 0 in float64 well above the bound: flat out to it
    (np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]), np.array([0, 1, 1]), -LOG_T_BOUND),
    # every prediction wrong: the NLL falls as T grows, towards the uniform distribution
    (np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 0]), LOG_T_BOUND),
])
def test_an_optimum_at_the_search_bound_keeps_t_1(probabilities, labels, bound):
    fit = fit_temperature(probabilities, labels)
    assert (fit.temperature, fit.status) == (1.0, AT_SEARCH_BOUND)
    assert math.log(fit.bound) == pytest.approx(bound)
    nll = _nll_over(np.log(probabilities), labels, np.exp(np.linspace(-LOG_T_BOUND, LOG_T_BOUND, 101)))
    assert nll.argmin() == (0 if bound < 0 else 100)
