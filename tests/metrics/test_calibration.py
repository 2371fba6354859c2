"""ECE, NLL, Brier and temperature scaling against values worked out by hand in each test."""

import math

import numpy as np
import pytest

from samderm.metrics.calibration import (brier_score, calibration_metrics, expected_calibration_error, fit_temperature,
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
    fitted = fit_temperature(probabilities, labels)
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
