import pandas as pd
import pytest

from samderm.report.aggregate import collect_runs
from samderm.report.selection import best_on_test, over_seeds, select_best, tie_rule
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


def tie_table(val_scores: dict) -> pd.DataFrame:
    """runs.tsv rows in matrix order: loss -> (val macro_f1, val balanced_accuracy), two seeds each."""
    rows = []
    for loss, (f1, bacc) in val_scores.items():
        for seed in (0, 1):
            run = {"experiment": "exp1", "loss": loss, "architecture": "parallel", "crop": "full", "encoder": "tiny",
                   "pooling": "mean", "resolution": 256, "seed": seed, "task": "lesion"}
            # seeds straddle the mean so that float sums differ in the last bits between configurations
            rows += [{**run, "split": "val", "metric": "macro_f1", "value": f1 + (0.1 if seed else -0.1)},
                     {**run, "split": "val", "metric": "balanced_accuracy", "value": bacc},
                     {**run, "split": "test", "metric": "macro_f1", "value": 0.5}]
    return pd.DataFrame(rows)


def test_ties_go_to_the_higher_validation_balanced_accuracy():
    tidy = tie_table({"wce": (0.4, 0.50), "lmf": (0.4, 0.70), "focal": (0.3, 0.90)})
    assert select_best(tidy, "macro_f1", ["task"]).loc[0, "loss"] == "lmf"


def test_full_ties_go_to_the_configuration_first_in_the_matrix_not_the_alphabet():
    tidy = tie_table({"wce": (0.4, 0.5), "focal": (0.4, 0.5), "bmixup": (0.4, 0.5)})
    assert select_best(tidy, "macro_f1", ["task"]).loc[0, "loss"] == "wce"
    assert select_best(tie_table({"focal": (0.4, 0.5), "wce": (0.4, 0.5)}), "macro_f1", ["task"]).loc[0, "loss"] == "focal"


def test_selecting_by_balanced_accuracy_breaks_ties_by_macro_f1():
    tidy = tie_table({"wce": (0.3, 0.6), "lmf": (0.5, 0.6)})
    assert select_best(tidy, "balanced_accuracy", ["task"]).loc[0, "loss"] == "lmf"
    assert tie_rule("balanced_accuracy").startswith("ties go to the higher mean validation macro f1")


def test_means_equal_but_for_float_rounding_count_as_a_tie():
    import pandas as pd

    seeds = {"wce": [0.1, 0.7], "lmf": [0.3, 0.5]}  # both 0.4, but the float means differ in the last bit
    rows = []
    for loss, values in seeds.items():
        for seed, value in enumerate(values):
            run = {"experiment": "exp1", "loss": loss, "architecture": "parallel", "crop": "full", "encoder": "tiny",
                   "pooling": "mean", "resolution": 256, "seed": seed, "task": "lesion", "split": "val"}
            rows += [{**run, "metric": "macro_f1", "value": value}, {**run, "metric": "balanced_accuracy", "value": 0.5}]
    tidy = pd.DataFrame(rows)
    means = over_seeds(tidy, "val", ["macro_f1", "balanced_accuracy"]).set_index("loss")["macro_f1_mean"]
    assert means["lmf"] > means["wce"]  # the float means differ ...
    assert select_best(tidy, "macro_f1", ["task"]).loc[0, "loss"] == "wce"  # ... yet it is a tie: matrix order


def test_the_table_notes_state_the_tie_rule(tidy):
    from samderm.report.summaries import classification_tables

    tables = classification_tables(tidy, "macro_f1")
    for name in ("best_models", "architectures", "losses"):
        assert "ties go to the higher mean validation balanced accuracy, then to the configuration listed first" in tables[name][2]
