"""The Mahalanobis detectors' covariance: by default the papers' empirical estimate (Lee et al.'s and
OpenOOD's EmpiricalCovariance, pseudo-inverse where singular); Ledoit-Wolf shrinkage only when asked."""

import logging

import numpy as np
import pytest

from samderm.ood import Mahalanobis, RelativeMahalanobis
from samderm.ood.metrics import ood_metrics
from tests.ood import formulas

DETECTORS = {"mahalanobis": (Mahalanobis, formulas.mahalanobis),
             "relative_mahalanobis": (RelativeMahalanobis, formulas.relative_mahalanobis)}


def anisotropic_near_ood():
    """The review's case: 32 dimensions with variances from 1e-3 to 1e2, four classes (means on one side
    of zero, so a shift the other way leaves them all), 200 training images, and near OOD that is the
    in-distribution moved by 4 standard deviations along the four lowest-variance axes only."""
    rng = np.random.default_rng(0)
    spread = np.sqrt(np.logspace(-3, 2, 32))
    means = 4 * np.abs(rng.normal(size=(4, 32))) * spread

    def draw(n):
        labels = rng.integers(0, 4, n)
        return means[labels] + spread * rng.normal(size=(n, 32)), labels

    train_x, train_y = draw(200)
    in_dist, near = draw(300)[0], draw(300)[0]
    near[:, :4] -= 4 * spread[:4]
    return train_x, train_y, in_dist, near


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_the_default_covariance_sees_a_shift_along_low_variance_axes_that_shrinkage_hides(name):
    train_x, train_y, in_dist, near = anisotropic_near_ood()
    detector = DETECTORS[name][0]

    def auroc(fitted):
        return ood_metrics(fitted.predict(in_dist), fitted.predict(near))["auroc"]

    # shrinkage towards the mean variance (~15) drowns the 1e-3 axes the shift moves along
    assert auroc(detector().fit(train_x, train_y)) > 0.85
    assert auroc(detector(covariance="ledoit_wolf").fit(train_x, train_y)) < 0.6


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_fewer_images_than_dimensions_use_the_pseudo_inverse_and_say_so(name, caplog):
    rng = np.random.default_rng(3)
    train_x, train_y = rng.normal(size=(12, 20)), np.arange(12) % 3
    x = rng.normal(size=(15, 20))
    detector, formula = DETECTORS[name]
    with caplog.at_level(logging.WARNING, logger="samderm.ood"):
        scores = detector().fit(train_x, train_y).predict(x)
    # 12 images in 3 classes: the class-centred features span 9 dimensions, all of them 11
    assert "rank 9 < dimension 20" in caplog.text
    if name == "relative_mahalanobis":
        assert "rank 11 < dimension 20" in caplog.text
    np.testing.assert_allclose(scores, formula(train_x, train_y, x), rtol=1e-6, atol=1e-6)
