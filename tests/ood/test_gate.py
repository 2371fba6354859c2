import numpy as np
import pytest

from samderm.ood.gate import REJECTED, gate_counts, gate_threshold

CLASSES = ["MEL", "NV", "BCC"]


@pytest.mark.parametrize("n", [20, 57, 100])
def test_threshold_is_the_smallest_that_keeps_the_recall(n):
    scores = np.random.default_rng(n).normal(size=n)
    threshold = gate_threshold(scores, 0.95)
    assert (scores <= threshold).mean() >= 0.95
    # the next lower score would accept too few
    assert (scores < threshold).mean() < 0.95
    # and the gate accepts exactly what the threshold promises on the same images
    table = gate_counts("lesion", scores, np.full(n, "MEL"), threshold, CLASSES).set_index("predicted")
    assert table.loc[REJECTED, "n_with_gate"] == n - int(np.ceil(0.95 * n))


def test_gate_counts_reconcile():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    predicted = rng.choice(CLASSES, size=200)
    threshold = 0.5
    table = gate_counts("ood", scores, predicted, threshold, CLASSES).set_index("predicted")
    assert list(table.index) == [*CLASSES, REJECTED]
    assert table["n_without_gate"].sum() == 200 and table["n_with_gate"].sum() == 200
    assert table.loc[REJECTED, "n_with_gate"] == (scores > threshold).sum()
    assert table.loc[REJECTED, "n_without_gate"] == 0
    for c in CLASSES:
        assert table.loc[c, "n_without_gate"] == (predicted == c).sum()
        assert table.loc[c, "n_with_gate"] == ((predicted == c) & (scores <= threshold)).sum()
    assert table["fraction_with_gate"].sum() == pytest.approx(1.0)
    assert (table["n_population"] == 200).all() and (table["population"] == "ood").all()


def test_gate_refuses_unknown_predicted_classes():
    with pytest.raises(ValueError, match=r"\['DF'\] are not lesion classes"):
        gate_counts("ood", np.zeros(2), np.array(["MEL", "DF"]), 0.0, CLASSES)
    with pytest.raises(ValueError, match="in-distribution val scores"):
        gate_threshold(np.array([]), 0.95)
