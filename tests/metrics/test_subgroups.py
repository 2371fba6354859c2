"""Subgroup metrics with paired bootstrap intervals (samderm.metrics.subgroups), checked against scikit-learn on
each subgroup's rows and against intervals computed here from an explicitly given shared weight matrix."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from samderm.metrics.bootstrap import group_weights
from samderm.metrics.calibration import expected_calibration_error
from samderm.metrics.subgroups import (UNKNOWN, age_band_labels, age_bands, classification_score, paired_subgroups,
                                       score_columns, subgroup_values)
from samderm.report.external_sources import METRICS

BINS = 5
LEVEL = 0.9


def lesion_sample(rng, n, skill, k=3):
    labels = rng.permutation(np.arange(n) % k)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += skill
    return labels, softmax(logits, axis=1)


def by_group(scores):
    return scores.groups.set_index(["column", "group"])


def test_age_band_edges():
    assert age_band_labels([30, 45, 60, 75]) == ["<30", "30-44", "45-59", "60-74", ">=75"]
    ages = ["0", "29", "29.9", "30", "44", "44.9", "45", "59", "60", "74", "75", "90", "", "n/a", "-1"]
    expected = ["<30", "<30", "<30", "30-44", "30-44", "30-44", "45-59", "45-59", "60-74", "60-74", ">=75", ">=75",
                "", "", ""]
    assert list(age_bands(ages, [30, 45, 60, 75])) == expected
    with pytest.raises(ValueError):
        age_band_labels([45, 30])


def test_subgroup_values_unknown_and_sources():
    manifest = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "sex": ["female", "", "male", "female"],
                             "age": ["25", "50", "", "80"]})
    ita = pd.DataFrame({"image_id": ["a", "b", "c"], "ita_category": ["light", "", "dark"]})
    values = subgroup_values(manifest, ita, ["sex", "age_band", "ita_category"], [30, 45, 60, 75])
    assert values.loc["b", "sex"] == UNKNOWN
    assert list(values["age_band"]) == ["<30", "45-59", UNKNOWN, ">=75"]
    assert list(values["ita_category"]) == ["light", UNKNOWN, "dark", UNKNOWN]  # d has no ita row
    with pytest.raises(ValueError, match="fitzpatrick"):
        subgroup_values(manifest, ita, ["fitzpatrick"], [30])


def test_point_values_match_sklearn_per_subgroup_and_unknown_is_a_row():
    rng = np.random.default_rng(0)
    n = 120
    labels, probabilities = lesion_sample(rng, n, 1.5)
    groups = np.array([f"g{i // 2}" for i in range(n)])
    sex = np.array(["female", "male", ""])[np.arange(n) % 3]
    table = pd.DataFrame({"sex": np.where(sex == "", UNKNOWN, sex)})
    weights = group_weights(groups, 50, 0)
    scores = score_columns(table, groups, weights, classification_score(labels, probabilities, BINS), METRICS,
                           ["sex"], 10, LEVEL)
    rows = by_group(scores)
    assert list(scores.groups["group"]) == ["all", "female", "male", UNKNOWN]
    for name, mask in [("female", sex == "female"), ("male", sex == "male"), (UNKNOWN, sex == "")]:
        row = rows.loc[("sex", name)]
        y, p = labels[mask], probabilities[mask]
        assert row["n_images"] == mask.sum() == 40
        assert row["n_groups"] == len(set(groups[mask]))
        assert row["balanced_accuracy_value"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
        assert row["macro_f1_value"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
        assert row["auroc_value"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
        assert row["ece_value"] == pytest.approx(expected_calibration_error(p, y, BINS, "width"))
        assert row["balanced_accuracy_low"] <= row["balanced_accuracy_value"] <= row["balanced_accuracy_high"]
    everything = rows.loc[("all", "all")]
    assert everything["n_images"] == n
    assert everything["macro_f1_value"] == pytest.approx(f1_score(labels, probabilities.argmax(1), average="macro"))


def correlated_case(rng, n_groups=100, differ=5):
    """Binary predictions: every lesion group has one image at site A and one at site B with the same label and the
    same prediction, except ``differ`` groups whose A image is right and B image wrong."""
    labels = rng.integers(0, 2, n_groups)
    labels[:2] = [0, 1]
    correct = rng.random(n_groups) < 0.75
    predicted_a = np.where(correct, labels, 1 - labels)
    flip = np.zeros(n_groups, bool)
    flip[np.flatnonzero(correct)[:differ]] = True
    predicted_b = np.where(flip, 1 - predicted_a, predicted_a)
    ids = np.arange(n_groups)
    groups = np.concatenate([ids, ids]).astype(str)
    site = np.array(["A"] * n_groups + ["B"] * n_groups, dtype=object)
    y = np.concatenate([labels, labels])
    predicted = np.concatenate([predicted_a, predicted_b])
    probabilities = np.where(predicted[:, None] == np.arange(2), 0.8, 0.2)
    return groups, site, y, predicted, probabilities


def test_gap_interval_is_paired_on_the_shared_weight_matrix():
    rng = np.random.default_rng(3)
    groups, site, y, predicted, probabilities = correlated_case(rng)
    resamples = 400
    shared = group_weights(groups, resamples, 11)  # the one matrix of the split: every subgroup uses it
    scores = paired_subgroups("site", site, groups, shared, classification_score(y, probabilities, BINS), METRICS,
                              10, LEVEL)
    gap = scores.gaps.set_index("metric").loc["balanced_accuracy"]

    a, b = site == "A", site == "B"
    point = {s: balanced_accuracy_score(y[m], predicted[m]) for s, m in (("A", a), ("B", b))}
    best, worst = max(point, key=point.get), min(point, key=point.get)
    assert point[best] > point[worst]
    assert (gap["best_group"], gap["worst_group"]) == (best, worst)
    assert gap["gap_value"] == pytest.approx(point[best] - point[worst])
    masks = {"A": a, "B": b}

    def resampled(mask, weights):
        return np.array([balanced_accuracy_score(y[mask], predicted[mask], sample_weight=w[mask]) for w in weights])

    paired = resampled(masks[best], shared) - resampled(masks[worst], shared)
    expected = np.quantile(paired, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    assert [gap["gap_low"], gap["gap_high"]] == pytest.approx(list(expected))

    # each subgroup with its own draws: a much wider interval, so the one above is not that
    unpaired = resampled(masks[best], group_weights(groups, resamples, 12)) - resampled(masks[worst], shared)
    low, high = np.quantile(unpaired, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    assert (high - low) > 2 * (gap["gap_high"] - gap["gap_low"])
    assert gap["gap_low"] > 0 > low  # only the paired interval sees that site B is worse


def test_small_groups_keep_their_row_but_no_interval_and_are_never_worst():
    rng = np.random.default_rng(5)
    n_big = 60
    labels = rng.integers(0, 2, n_big + 3)
    labels[:2] = [0, 1]
    correct = np.r_[rng.random(n_big) < 0.8, np.zeros(3, bool)]  # the tiny group is all wrong
    labels[n_big:] = [0, 1, 0]
    predicted = np.where(correct, labels, 1 - labels)
    probabilities = np.where(predicted[:, None] == np.arange(2), 0.7, 0.3)
    site = np.array(["big1"] * 30 + ["big2"] * 30 + ["tiny"] * 3, dtype=object)
    groups = np.array([f"g{i}" for i in range(len(site))])
    scores = paired_subgroups("site", site, groups, group_weights(groups, 100, 0),
                              classification_score(labels, probabilities, BINS), METRICS, 10, LEVEL)
    tiny = scores.groups.set_index("group").loc["tiny"]
    assert tiny["n_images"] == 3 and bool(tiny["too_small"])
    assert tiny["balanced_accuracy_value"] == pytest.approx(balanced_accuracy_score(labels[-3:], predicted[-3:]))
    assert np.isnan(tiny["balanced_accuracy_low"]) and np.isnan(tiny["balanced_accuracy_high"])
    gaps = scores.gaps.set_index("metric")
    assert gaps.loc["balanced_accuracy", "worst_group"] != "tiny"
    assert gaps.loc["balanced_accuracy", "n_eligible"] == 2
    big = scores.groups.set_index("group").loc[["big1", "big2"], "balanced_accuracy_value"]
    assert gaps.loc["balanced_accuracy", "worst_group"] == big.idxmin()


def test_ece_worst_is_the_highest_and_its_gap_positive():
    rng = np.random.default_rng(7)
    n = 40
    labels = rng.integers(0, 2, 2 * n)
    predicted = labels.copy()
    predicted[n:][rng.random(n) < 0.5] ^= 1  # site "off": half wrong at the same confidence
    probabilities = np.where(predicted[:, None] == np.arange(2), 0.9, 0.1)
    site = np.array(["fine"] * n + ["off"] * n, dtype=object)
    groups = np.array([f"g{i}" for i in range(2 * n)])
    scores = paired_subgroups("site", site, groups, group_weights(groups, 100, 0),
                              classification_score(labels, probabilities, BINS), METRICS, 10, LEVEL)
    ece = {s: expected_calibration_error(probabilities[site == s], labels[site == s], BINS) for s in ("fine", "off")}
    assert ece["off"] > ece["fine"]
    row = scores.gaps.set_index("metric").loc["ece"]
    assert row["worst_group"] == "off" and row["best_group"] == "fine"
    assert row["gap_value"] == pytest.approx(ece["off"] - ece["fine"])
    assert row["gap_low"] <= row["gap_value"] <= row["gap_high"]
    assert scores.gaps.set_index("metric").loc["balanced_accuracy", "worst_group"] == "off"


def test_unknown_is_reported_but_never_the_worst_group_and_one_known_group_has_no_gap():
    rng = np.random.default_rng(3)
    n = 30
    labels = rng.integers(0, 2, 3 * n)
    predicted = labels.copy()
    predicted[2 * n:] ^= 1  # the images of unknown value are all wrong
    probabilities = np.where(predicted[:, None] == np.arange(2), 0.8, 0.2)
    sex = np.array(["female"] * n + ["male"] * n + ["unknown"] * n, dtype=object)
    groups = np.array([f"g{i}" for i in range(3 * n)])
    score = classification_score(labels, probabilities, BINS)
    scores = paired_subgroups("sex", sex, groups, group_weights(groups, 50, 0), score, METRICS, 10, LEVEL)
    assert "unknown" in set(scores.groups["group"])  # counted, not dropped
    assert set(scores.gaps["worst_group"]) <= {"female", "male"}
    alone = paired_subgroups("sex", sex[n:], groups[n:], group_weights(groups[n:], 50, 0),
                             classification_score(labels[n:], probabilities[n:], BINS), METRICS, 10, LEVEL)
    assert (alone.gaps["worst_group"] == "").all() and alone.gaps["gap_value"].isna().all()
