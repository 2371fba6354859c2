"""The collapse flag: one class taking more than the share (strictly), or balanced accuracy within the margin
of 1/K (boundary included), flags a run; a healthy run is not flagged."""

import numpy as np
import pytest

from samderm.metrics.collapse import HEALTHY, NEAR_CHANCE, ONE_CLASS_SHARE, collapse_check

LABELS = np.repeat(np.arange(4), 25)  # 4 classes, 25 images each


def _with_correct(per_class):
    """Predictions on LABELS that get the first ``per_class[c]`` images of class c right and call the rest
    class c + 1 (mod 4): every class is predicted about 25 times, and balanced accuracy = sum(per_class) / 100."""
    predicted = []
    for c, n_right in enumerate(per_class):
        predicted += [c] * n_right + [(c + 1) % 4] * (25 - n_right)
    return np.array(predicted)


def test_a_run_predicting_one_class_95_percent_is_flagged():
    predicted = np.full(100, 2)
    predicted[:5] = 0  # 5 class-0 images right: recalls 0.2, 0, 1, 0 -> balanced accuracy 0.30, not near 0.25
    check = collapse_check(LABELS, predicted, 4)
    assert check.collapsed and check.reason.startswith(ONE_CLASS_SHARE) and NEAR_CHANCE not in check.reason
    assert (check.top_class, check.top_share) == (2, 0.95)
    assert check.balanced_accuracy == pytest.approx(0.30) and check.chance == 0.25


@pytest.mark.parametrize("per_class, flagged", [
    ((7, 6, 6, 7), True),     # 0.26
    ((7, 7, 6, 7), True),     # 0.27: exactly 0.02 above chance, the boundary is included
    ((7, 7, 7, 7), False),    # 0.28
    ((6, 6, 6, 5), True),     # 0.23: below chance counts too
    ((6, 5, 5, 6), False),    # 0.22
])
def test_near_chance_balanced_accuracy_is_flagged(per_class, flagged):
    predicted = _with_correct(per_class)
    check = collapse_check(LABELS, predicted, 4)
    assert check.balanced_accuracy == pytest.approx(sum(per_class) / 100)
    assert check.top_share <= 0.27  # the share rule stays quiet
    assert check.collapsed == flagged
    assert check.reason.startswith(NEAR_CHANCE) if flagged else check.reason == HEALTHY


def test_a_healthy_run_is_not_flagged():
    check = collapse_check(LABELS, _with_correct((20, 21, 19, 22)), 4)
    assert not check.collapsed and check.reason == HEALTHY
    assert check.balanced_accuracy == pytest.approx(0.82)


def test_the_share_rule_is_strict():
    # 90 of 100 labels and predictions are class 0, every prediction right: share exactly 0.9, not flagged
    labels = np.array([0] * 90 + [1] * 4 + [2] * 3 + [3] * 3)
    check = collapse_check(labels, labels.copy(), 4)
    assert check.top_share == 0.9 and not check.collapsed and check.reason == HEALTHY
    # one class-1 image called 0: share 0.91, flagged (balanced accuracy 0.9375 is far from chance)
    predicted = labels.copy()
    predicted[90] = 0
    check = collapse_check(labels, predicted, 4)
    assert check.collapsed and check.reason.startswith(ONE_CLASS_SHARE) and check.top_share == pytest.approx(0.91)
    assert check.balanced_accuracy == pytest.approx(0.9375)


def test_thresholds_are_configurable():
    labels = np.array([0] * 85 + [1] * 15)
    assert not collapse_check(labels, labels, 2).collapsed  # 0.85 share under the default 0.9
    assert collapse_check(labels, labels, 2, max_share=0.8).collapsed
    predicted = _with_correct((8, 8, 8, 8))  # 0.32: 0.07 above chance
    assert not collapse_check(LABELS, predicted, 4).collapsed
    assert collapse_check(LABELS, predicted, 4, chance_margin=0.08).reason.startswith(NEAR_CHANCE)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="predicted"):
        collapse_check(LABELS, np.full(100, 4), 4)
    with pytest.raises(ValueError, match="1-D"):
        collapse_check(LABELS, LABELS[:50], 4)
