"""The group bootstrap: metrics on weighted resamples equal scikit-learn on the repeated rows, groups
are resampled whole, and the same seed gives the same intervals."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from samderm.metrics.bootstrap import (METRICS, bootstrap_p_value, full_sample, group_weights,
                                       percentile_interval, resampled_metrics)


def _random_predictions(n, k, seed, ties=True):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k - 1, n)
    labels[:3] = k - 1  # a rare class: only the first lesion (rows 0-2), so some resamples lack it
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    if ties:
        logits[4:7] = logits[7]  # tied scores, which AUROC counts one half
    p = np.exp(logits)
    return labels, p / p.sum(axis=1, keepdims=True)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("k", [2, 4])
def test_weighted_metrics_equal_sklearn_on_repeated_rows(k, ties):
    labels, p = _random_predictions(60, k, seed=k, ties=ties)
    groups = np.repeat(np.arange(20), 3)
    weights = group_weights(groups, 40, seed=1)
    values = resampled_metrics(weights, labels, p)
    checked = 0
    for b in range(len(weights)):
        rows = np.repeat(np.arange(60), weights[b].astype(int))
        y, q = labels[rows], p[rows]
        pred = q.argmax(axis=1)
        expected = [accuracy_score(y, pred), balanced_accuracy_score(y, pred),
                    f1_score(y, pred, average="macro", zero_division=0)]
        assert values[b, :3] == pytest.approx(expected, abs=1e-12), METRICS
        if len(np.unique(y)) < k:
            continue  # scikit-learn's one-vs-rest AUROC needs every class
        auc = roc_auc_score(y, q[:, 1]) if k == 2 else roc_auc_score(y, q, multi_class="ovr", average="macro")
        assert values[b, 3] == pytest.approx(auc, abs=1e-12)
        checked += 1
    assert checked > 10


def test_accuracy_of_a_hand_made_resample():
    # groups a (right, right), b (wrong); drawing a twice doubles both its images
    labels, p = np.array([0, 0, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    weights = np.array([[2.0, 2.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    values = resampled_metrics(weights, labels, p)
    assert values[:, 0].tolist() == [1.0, 0.0, pytest.approx(2 / 3)]
    assert values[2, 3] == pytest.approx(1.0)  # both class-0 scores above the class-1 score
    assert np.isnan(values[0, 3])  # no positive in the resample
    assert resampled_metrics(full_sample(3), labels, p)[0, 0] == pytest.approx(2 / 3)


def test_multiclass_auroc_averages_the_classes_it_can_score():
    # class 2 is never true: its one-vs-rest AUROC is undefined and left out of the macro mean
    labels = np.array([0, 0, 1, 1])
    p = np.array([[.6, .3, .1], [.5, .2, .3], [.2, .7, .1], [.4, .25, .35]])
    # class 0: positives .6 .5 above negatives .2 .4: 1; class 1: positives .7 .25 vs negatives .3 .2: 3 of 4 pairs
    assert resampled_metrics(full_sample(4), labels, p)[0, 3] == pytest.approx((1 + 0.75) / 2)


def test_every_image_of_a_group_is_drawn_together():
    groups = np.array(["L2", "L1", "L2", "L3", "L1", "L2"])
    weights = group_weights(groups, 200, seed=0)
    assert np.array_equal(weights[:, 0], weights[:, 2]) and np.array_equal(weights[:, 0], weights[:, 5])
    assert np.array_equal(weights[:, 1], weights[:, 4])
    # each resample draws 3 groups: the weights of one image per group sum to 3
    assert np.all(weights[:, 1] + weights[:, 0] + weights[:, 3] == 3)


def _width(groups, labels, p, seed=0):
    low, high = percentile_interval(resampled_metrics(group_weights(groups, 2000, seed), labels, p), 0.95)
    return high - low


def test_duplicated_lesions_widen_the_interval_only_when_resampled_as_groups():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    right = rng.random(40) < 0.7
    p1 = np.where(right == (labels == 1), 0.8, 0.2) + rng.uniform(-0.1, 0.1, 40)
    p = np.stack([1 - p1, p1], axis=1)
    # each lesion photographed 5 times, identically
    copies, lesion = np.repeat(np.arange(40), 5), np.repeat(np.arange(40), 5)
    labels5, p5 = labels[copies], p[copies]
    as_groups = _width(lesion, labels5, p5)
    as_images = _width(np.arange(200), labels5, p5)
    assert np.all(as_groups > 1.5 * as_images)
    # resampled as groups, duplicates change nothing: the interval of the 40 lesions
    assert as_groups == pytest.approx(_width(np.arange(40), labels, p), abs=0.03)


def test_same_seed_same_intervals_and_another_seed_other_ones():
    labels, p = _random_predictions(50, 3, seed=0)
    groups = np.arange(50) // 2
    first = percentile_interval(resampled_metrics(group_weights(groups, 300, 7), labels, p), 0.9)
    again = percentile_interval(resampled_metrics(group_weights(groups, 300, 7), labels, p), 0.9)
    other = percentile_interval(resampled_metrics(group_weights(groups, 300, 8), labels, p), 0.9)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_resamples"):
        group_weights([1, 2], 0, 0)
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.zeros((3, 1)), 1.5)


def test_the_interval_holds_the_equal_tailed_quantiles_of_its_level():
    # a skewed spread, so the 2.5/97.5% and the 5/95% quantiles are far apart; NaN resamples are left out
    values = np.random.default_rng(0).exponential(size=(1000, 2))
    with_nan = np.vstack([values, np.full((50, 2), np.nan)])
    for level, percents in ((0.95, [2.5, 97.5]), (0.9, [5, 95]), (0.5, [25, 75])):
        low, high = percentile_interval(with_nan, level)
        expected = np.percentile(values, percents, axis=0)
        assert low == pytest.approx(expected[0], abs=1e-12) and high == pytest.approx(expected[1], abs=1e-12)


def test_p_value_doubles_the_smaller_share_of_resamples_on_one_side_of_zero():
    # 10 defined resamples: 2 at or below zero (-1, 0), 9 at or above (0 .. 8); the NaN counts on neither side
    differences = np.array([-1, 0, 1, 2, 3, np.nan, 4, 5, 6, 7, 8])
    assert bootstrap_p_value(differences) == pytest.approx(2 * 2 / 10)
    assert bootstrap_p_value(-differences) == pytest.approx(2 * 2 / 10)
    assert bootstrap_p_value(np.array([0.1, 0.2, 0.3])) == 0  # no resample on the other side
    assert bootstrap_p_value(np.array([-1.0, 1.0, 0.0])) == 1  # 2 x 2/3, capped at 1
    assert np.isnan(bootstrap_p_value(np.full(4, np.nan)))
    columns = bootstrap_p_value(np.array([[1.0, -1.0], [2.0, 1.0], [3.0, 2.0], [-4.0, 3.0]]))
    assert columns == pytest.approx([2 * 1 / 4, 2 * 1 / 4])
