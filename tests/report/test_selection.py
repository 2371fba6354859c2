import pytest

from samderm.report.aggregate import collect_runs
from samderm.report.selection import best_on_test, over_seeds, select_best
from tests.report.conftest import TEST_BEST, VAL_BEST


@pytest.fixture
def tidy(study):
    return collect_runs(study.run_dirs)


def test_best_lesion_model_is_chosen_on_val_not_test(tidy):
    best = select_best(tidy, "macro_f1", ["task"]).set_index("task")
    chosen = tuple(best.loc["lesion", ["experiment", "loss", "architecture"]])
    assert chosen == VAL_BEST
    assert chosen != TEST_BEST
    assert best.loc["lesion", "val_macro_f1"] == pytest.approx(0.905)  # mean of 0.90 and 0.91 over two seeds


def test_best_model_is_reported_with_test_mean_and_spread_over_seeds(tidy):
    table = best_on_test(tidy, "macro_f1", ["task"], ["accuracy", "macro_f1"]).set_index("task")
    lesion = table.loc["lesion"]
    assert lesion["macro_f1_mean"] == pytest.approx(0.2) and lesion["macro_f1_std"] == pytest.approx(0.0)
    test = tidy[(tidy["split"] == "test") & (tidy["task"] == "lesion") & (tidy["metric"] == "accuracy")
                & (tidy["experiment"] == VAL_BEST[0]) & (tidy["loss"] == VAL_BEST[1])
                & (tidy["architecture"] == VAL_BEST[2])]["value"]
    assert lesion["accuracy_mean"] == pytest.approx(test.mean())
    assert lesion["accuracy_std"] == pytest.approx(test.std())
    assert lesion["n_seeds"] == 2


def test_each_group_gets_its_own_best(tidy):
    best = select_best(tidy, "macro_f1", ["experiment", "task", "architecture"])
    assert len(best) == 2 * 3 * 3
    assert not best.duplicated(["experiment", "task", "architecture"]).any()
    val = over_seeds(tidy, "val", ["macro_f1"])
    for row in best.itertuples():
        group = val[(val["experiment"] == row.experiment) & (val["task"] == row.task)
                    & (val["architecture"] == row.architecture)]
        assert row.val_macro_f1 == pytest.approx(group["macro_f1_mean"].max())
