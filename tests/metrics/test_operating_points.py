"""Operating points: thresholds chosen on val only (by the documented rule, ties included), applied unchanged
to test, with group-bootstrap intervals on the test images; and one-vs-rest AUROC with intervals."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from samderm.metrics.bootstrap import group_weights
from samderm.metrics.operating_points import (class_score, one_vs_rest_auroc, operating_points,
                                              threshold_at_sensitivity, threshold_at_specificity)

# val: 10 negatives and 5 positives; 0.55 is both a negative's and a positive's score (a tie across classes)
VAL_NEGATIVE = [0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.55, 0.70, 0.85]
VAL_POSITIVE = [0.40, 0.55, 0.60, 0.80, 0.90]
VAL_SCORE = np.array(VAL_NEGATIVE + VAL_POSITIVE)
VAL_LABEL = np.array([0] * 10 + [1] * 5)
# test: 10 images in 5 groups of two
TEST_SCORE = np.array([0.20, 0.45, 0.58, 0.62, 0.65, 0.75, 0.82, 0.88, 0.95, 0.35])
TEST_LABEL = np.array([0, 0, 1, 0, 1, 0, 1, 0, 1, 1])
TEST_GROUP = np.array(["g1", "g1", "g2", "g2", "g3", "g3", "g4", "g4", "g5", "g5"])

# counted by hand; positive = score >= threshold
HAND = {
    # 8 of 10 val negatives below t: not 0.55 (the tied negative is called positive), so 0.60
    "sensitivity@specificity0.80": dict(threshold=0.60, val_sensitivity=3 / 5, val_specificity=8 / 10,
                                        test_sensitivity_value=3 / 5, test_specificity_value=2 / 5),
    # 9 below: above 0.70, so the next val score 0.80
    "sensitivity@specificity0.90": dict(threshold=0.80, val_sensitivity=2 / 5, val_specificity=9 / 10,
                                        test_sensitivity_value=2 / 5, test_specificity_value=4 / 5),
    # all 10 below: above 0.85, so 0.90
    "sensitivity@specificity0.95": dict(threshold=0.90, val_sensitivity=1 / 5, val_specificity=10 / 10,
                                        test_sensitivity_value=1 / 5, test_specificity_value=5 / 5),
    # 0.95 of 5 positives needs all 5 at or above t: the lowest positive, 0.40
    "specificity@sensitivity0.95": dict(threshold=0.40, val_sensitivity=5 / 5, val_specificity=7 / 10,
                                        test_sensitivity_value=4 / 5, test_specificity_value=1 / 5),
}


def _table(test_label=TEST_LABEL, test_score=TEST_SCORE, n_resamples=50, seed=0, level=0.9):
    weights = group_weights(TEST_GROUP, n_resamples, seed)
    return operating_points(VAL_LABEL, VAL_SCORE, test_label, test_score, weights, TEST_GROUP,
                            target="malignancy", level=level).set_index("operating_point")


def test_hand_counted_thresholds_and_rates():
    table = _table()
    assert list(table.index) == list(HAND)
    for point, expected in HAND.items():
        for column, value in expected.items():
            assert table.loc[point, column] == pytest.approx(value, abs=1e-12), (point, column)
    assert (table["target"] == "malignancy").all()
    assert (table["n_test"] == 10).all() and (table["n_groups"] == 5).all() and (table["n_resamples"] == 50).all()


def test_a_tie_at_the_threshold_falls_on_the_positive_side():
    # both images scored 0.55 are called positive at t = 0.55, so it keeps only 7 of 10 negatives: not enough
    assert threshold_at_specificity(VAL_LABEL, VAL_SCORE, 0.75) == 0.60
    assert threshold_at_specificity(VAL_LABEL, VAL_SCORE, 0.70) == 0.40
    # sensitivity 4/5 is reached at 0.55 (0.55, 0.60, 0.80, 0.90), the largest such val score
    assert threshold_at_sensitivity(VAL_LABEL, VAL_SCORE, 0.80) == 0.55


def test_thresholds_come_from_val_only():
    chosen = _table()[["threshold", "val_sensitivity", "val_specificity"]]
    # on test, the 0.80 specificity threshold would be 0.82 (4 of 5 test negatives below it), not val's 0.60
    assert threshold_at_specificity(TEST_LABEL, TEST_SCORE, 0.80) == 0.82
    rng = np.random.default_rng(3)
    for _ in range(3):  # other test labels and scores: the val-chosen columns do not move
        label = rng.permutation(TEST_LABEL)
        other = _table(test_label=label, test_score=rng.uniform(size=10))
        assert other[["threshold", "val_sensitivity", "val_specificity"]].equals(chosen)


def test_interval_is_the_percentile_of_resampled_test_sensitivity():
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(12), 3)
    test_label = rng.integers(0, 2, 36)
    test_score = np.round(rng.uniform(size=36) + 0.3 * test_label, 2)  # rounded: some ties
    weights = group_weights(groups, 300, seed=11)
    table = operating_points(VAL_LABEL, VAL_SCORE, test_label, test_score, weights, groups, target="MEL",
                             level=0.8).set_index("operating_point")
    for point, expected in HAND.items():
        t = expected["threshold"]
        sensitivity, specificity = [], []
        for row in weights:  # the resample as repeated images, scored at the fixed val threshold
            images = np.repeat(np.arange(36), row.astype(int))
            y, s = test_label[images], test_score[images]
            sensitivity.append(np.mean(s[y == 1] >= t) if (y == 1).any() else np.nan)
            specificity.append(np.mean(s[y == 0] < t) if (y == 0).any() else np.nan)
        row = table.loc[point]
        assert [row["test_sensitivity_low"], row["test_sensitivity_high"]] == pytest.approx(
            np.nanpercentile(sensitivity, [10, 90]), abs=1e-12)
        assert [row["test_specificity_low"], row["test_specificity_high"]] == pytest.approx(
            np.nanpercentile(specificity, [10, 90]), abs=1e-12)
    assert (table["n_groups"] == 12).all() and (table["n_test"] == 36).all()


def test_resampling_is_by_groups():
    # a matrix that draws images, not groups, splits the pairs of TEST_GROUP: refused
    image_weights = np.random.default_rng(0).multinomial(10, np.full(10, 0.1), size=20).astype(float)
    with pytest.raises(ValueError, match="group"):
        operating_points(VAL_LABEL, VAL_SCORE, TEST_LABEL, TEST_SCORE, image_weights, TEST_GROUP,
                         target="malignancy", level=0.9)
    # one drawn group (g4: images 6 and 7, a positive above every threshold and a negative below 0.90)
    g4_only = np.zeros((1, 10))
    g4_only[0, 6:8] = 3.0
    table = operating_points(VAL_LABEL, VAL_SCORE, TEST_LABEL, TEST_SCORE, g4_only, TEST_GROUP,
                             target="malignancy", level=0.9).set_index("operating_point")
    assert table.loc["sensitivity@specificity0.95", "test_sensitivity_low"] == 0.0  # 0.82 < 0.90
    assert table.loc["sensitivity@specificity0.90", "test_sensitivity_low"] == 1.0  # 0.82 >= 0.80
    assert table.loc["sensitivity@specificity0.95", "test_specificity_high"] == 1.0  # 0.88 < 0.90


@pytest.mark.parametrize("label, missing", [(np.zeros(15, int), "val: no positives"),
                                            (np.ones(15, int), "val: no negatives")])
def test_val_without_one_class_is_named(label, missing):
    with pytest.raises(ValueError, match=missing):
        operating_points(label, VAL_SCORE, TEST_LABEL, TEST_SCORE, group_weights(TEST_GROUP, 5, 0), TEST_GROUP,
                         target="malignancy", level=0.9)


def test_test_without_positives_and_nan_scores_are_refused():
    with pytest.raises(ValueError, match="test: no positives"):
        _table(test_label=np.zeros(10, int))
    nan_score = TEST_SCORE.copy()
    nan_score[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _table(test_score=nan_score)
    with pytest.raises(ValueError, match="NaN"):
        threshold_at_specificity(VAL_LABEL, np.where(VAL_LABEL == 1, np.nan, VAL_SCORE), 0.9)


def test_class_score_picks_one_class_against_the_rest():
    positive, score = class_score(np.array([0, 2, 1]), np.array([[.7, .2, .1], [.1, .1, .8], [.3, .6, .1]]),
                                  ["MEL", "NV", "BCC"], "BCC")
    assert positive.tolist() == [False, True, False] and score.tolist() == [0.1, 0.8, 0.1]
    with pytest.raises(ValueError, match="SCC"):
        class_score(np.array([0]), np.array([[1.0, 0, 0]]), ["MEL", "NV", "BCC"], "SCC")


def test_one_vs_rest_auroc_and_its_interval_equal_sklearn_on_resamples():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(15), 2)
    labels = rng.integers(0, 3, 30)
    labels[:2] = 3  # a rare class: one group only, so some resamples lack it
    logits = rng.normal(size=(30, 5)) + 1.2 * np.eye(5)[labels]  # class 4 is never true
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = group_weights(groups, 100, seed=2)
    table = one_vs_rest_auroc(labels, p, ["MEL", "NV", "BCC", "AK", "SCC"], weights, groups, level=0.9)
    assert table["target"].tolist() == ["MEL", "NV", "BCC", "AK", "SCC"]
    assert table["n_positive"].tolist() == [int((labels == k).sum()) for k in range(5)]
    for k in range(4):
        row = table.iloc[k]
        assert row["auroc_value"] == pytest.approx(roc_auc_score(labels == k, p[:, k]), abs=1e-12)
        resampled = []
        for w in weights:
            images = np.repeat(np.arange(30), w.astype(int))
            y = labels[images] == k
            resampled.append(roc_auc_score(y, p[images, k]) if 0 < y.sum() < len(y) else np.nan)
        assert [row["auroc_low"], row["auroc_high"]] == pytest.approx(np.nanpercentile(resampled, [5, 95]),
                                                                      abs=1e-12)
    assert np.isnan(table.iloc[4][["auroc_value", "auroc_low", "auroc_high"]].astype(float)).all()
    assert (table["n_groups"] == 15).all()
