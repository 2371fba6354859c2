"""Internal test vs external test sources (samderm.report.external_sources), on small synthetic predictions."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from samderm.io import read_tsv, write_tsv
from samderm.metrics.calibration import expected_calibration_error, weighted_ece
from samderm.report.external_sources import METRICS, compare_sources, external_operating_points, tabulate_external_sources

LESION = ["MEL", "NV", "BCC"]
TASK_CLASSES = {"lesion": LESION, "malignancy": ["benign", "malignant"]}
BOOTSTRAP = {"resamples": 300, "level": 0.9, "seed": 0}
BINS = 5
RUN = {"experiment": "exp1", "loss": "wce", "architecture": "mlp", "crop": "full", "encoder": "enc", "pooling": "cls",
       "resolution": 224, "seed": 0}


def scores(rng, task, n, skill, labels=None):
    """Labels (every class when n allows, unless given) and probabilities that favour the label by ``skill``."""
    k = len(TASK_CLASSES[task])
    labels = rng.permutation(np.arange(n) % k) if labels is None else np.asarray(labels)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += skill
    return labels, softmax(logits, axis=1)


def part(task, split, ids, labels, probabilities):
    classes = TASK_CLASSES[task]
    table = pd.DataFrame({"image_id": ids, "split": split, "task": task, "label": np.asarray(classes)[labels],
                          "predicted": np.asarray(classes)[probabilities.argmax(axis=1)]})
    for j, c in enumerate(classes):
        table[f"p_{c}"] = probabilities[:, j]
    return table


def predictions(*parts):
    """A predictions.tsv table: every task's p_ columns, empty on the other tasks' rows."""
    columns = [f"p_{c}" for classes in TASK_CLASSES.values() for c in classes]
    return pd.concat(parts, ignore_index=True).reindex(columns=["image_id", "split", "task", "label", "predicted",
                                                                 *columns])


def ids(prefix, n):
    return [f"{prefix}{i:03d}" for i in range(n)]


def manifest_of(groups):
    return pd.DataFrame({"image_id": list(groups), "group_id": list(groups.values())})


def sample(seed=0, n_test=40, n_ext=30, internal_skill=3.0, external_skill=0.8, tasks=("lesion",)):
    """A run with val, test and one external source ``clinic``; test images come two per lesion group, external
    images three per patient."""
    rng = np.random.default_rng(seed)
    parts, groups = [], {}
    for task in tasks:
        for split, prefix, n, skill in (("val", f"{task}v", 30, 2.0), ("test", f"{task}t", n_test, internal_skill),
                                        ("external:clinic", f"{task}e", n_ext, external_skill)):
            image_ids = ids(prefix, n)
            parts.append(part(task, split, image_ids, *scores(rng, task, n, skill)))
            size = 3 if split.startswith("external") else 2
            groups.update({image_id: f"{prefix}-group{i // size}" for i, image_id in enumerate(image_ids)})
    return predictions(*parts), groups


def rows_of(table, task="lesion", source="clinic"):
    return table[(table["task"] == task) & (table["source"] == source)].set_index("metric")


def split_of(frame, task, split):
    rows = frame[(frame["task"] == task) & (frame["split"] == split)].sort_values("image_id")
    classes = TASK_CLASSES[task]
    return rows["label"].map(classes.index).to_numpy(), rows[[f"p_{c}" for c in classes]].to_numpy(float)


def reference(labels, probabilities):
    """The metrics from scikit-learn (and ECE from samderm.metrics.calibration); AUROC the macro mean over the
    classes with positives and negatives, one-vs-rest."""
    predicted = probabilities.argmax(axis=1)
    present = [k for k in range(probabilities.shape[1]) if 0 < (labels == k).sum() < len(labels)]
    if probabilities.shape[1] == 2:
        auroc = roc_auc_score(labels, probabilities[:, 1])
    else:
        auroc = np.mean([roc_auc_score(labels == k, probabilities[:, k]) for k in present])
    return {"balanced_accuracy": balanced_accuracy_score(labels, predicted),
            "macro_f1": f1_score(labels, predicted, average="macro"),
            "auroc": auroc,
            "ece": expected_calibration_error(probabilities, labels, BINS, "width")}


def test_point_values_are_scikit_learns_on_both_sides():
    frame, groups = sample(tasks=("lesion", "malignancy"))
    table = compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS)
    assert len(table) == 2 * len(METRICS)
    for task in ("lesion", "malignancy"):
        rows = rows_of(table, task)
        for side, split in (("internal", "test"), ("external", "external:clinic")):
            expected = reference(*split_of(frame, task, split))
            for metric in METRICS:
                assert rows.loc[metric, f"{side}_value"] == pytest.approx(expected[metric], abs=1e-12), (task, side,
                                                                                                         metric)
    labels, probabilities = split_of(frame, "lesion", "test")  # every class present: scikit-learn's own multi-class
    assert rows_of(table).loc["auroc", "internal_value"] == pytest.approx(
        roc_auc_score(labels, probabilities, multi_class="ovr"), abs=1e-12)
    rows = rows_of(table)
    assert (rows["internal_images"] == 40).all() and (rows["internal_groups"] == 20).all()
    assert (rows["external_images"] == 30).all() and (rows["external_groups"] == 10).all()
    assert (rows["n_resamples"] == 300).all() and (rows["level"] == 0.9).all()


def test_the_drop_is_internal_minus_external():
    frame, groups = sample(internal_skill=6.0, external_skill=0.0)
    rows = rows_of(compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS))
    external = reference(*split_of(frame, "lesion", "external:clinic"))
    internal = reference(*split_of(frame, "lesion", "test"))
    for metric in ("balanced_accuracy", "macro_f1", "auroc"):
        assert internal[metric] > external[metric] + 0.2  # the example: clearly better inside
        assert rows.loc[metric, "drop_value"] == pytest.approx(internal[metric] - external[metric], abs=1e-12)
        assert rows.loc[metric, "drop_value"] > 0.2
    # ECE too is internal - external: lower is better, so the worse external calibration gives a negative drop
    assert rows.loc["ece", "drop_value"] == pytest.approx(internal["ece"] - external["ece"], abs=1e-12)


def test_the_drop_interval_covers_its_value_and_resamples_the_sides_independently():
    # the external source is a copy of the internal test images (same labels, probabilities and group sizes):
    # resampling both sides with the same draws would make every resampled drop 0
    rng = np.random.default_rng(3)
    labels, probabilities = scores(rng, "lesion", 40, 1.0)
    frame = predictions(part("lesion", "val", ids("v", 30), *scores(rng, "lesion", 30, 2.0)),
                        part("lesion", "test", ids("t", 40), labels, probabilities),
                        part("lesion", "external:clinic", ids("e", 40), labels, probabilities))
    groups = {**{i: f"L{n // 2}" for n, i in enumerate(ids("t", 40))},
              **{i: f"P{n // 2}" for n, i in enumerate(ids("e", 40))}}
    rows = rows_of(compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS))
    for metric in METRICS:
        row = rows.loc[metric]
        assert row["drop_value"] == pytest.approx(0, abs=1e-12)
        assert row["drop_low"] <= row["drop_value"] <= row["drop_high"]
        assert row["drop_high"] - row["drop_low"] > 0.01, metric
        # the drop varies more than either side alone: independent sides add their variances
        assert row["drop_high"] - row["drop_low"] > row["internal_high"] - row["internal_low"]
    frame, groups = sample()
    table = compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS)
    assert (table["drop_low"] <= table["drop_value"]).all() and (table["drop_value"] <= table["drop_high"]).all()
    assert (table["drop_high"] - table["drop_low"] > 0).all()


def test_resampling_draws_groups_not_images():
    # the same external source twice: one image per patient, and each patient's image repeated three times
    # (identical label and probabilities). Drawing patients gives both the same interval; drawing images would not.
    rng = np.random.default_rng(5)
    val = part("lesion", "val", ids("v", 30), *scores(rng, "lesion", 30, 2.0))
    test_labels, test_p = scores(rng, "lesion", 40, 2.0)
    test = part("lesion", "test", ids("t", 40), test_labels, test_p)
    labels, probabilities = scores(rng, "lesion", 15, 1.0)
    single = part("lesion", "external:clinic", ids("e", 15), labels, probabilities)
    tripled = part("lesion", "external:clinic", ids("r", 45), np.repeat(labels, 3), np.repeat(probabilities, 3, axis=0))
    groups = {**{i: f"L{n // 2}" for n, i in enumerate(ids("t", 40))},
              **{i: f"P{n:02d}" for n, i in enumerate(ids("e", 15))},
              **{i: f"P{n // 3:02d}" for n, i in enumerate(ids("r", 45))}}
    one = rows_of(compare_sources([(RUN, predictions(val, test, single))], manifest_of(groups), BOOTSTRAP, BINS))
    three = rows_of(compare_sources([(RUN, predictions(val, test, tripled))], manifest_of(groups), BOOTSTRAP, BINS))
    assert (three["external_images"] == 45).all() and (three["external_groups"] == 15).all()
    for metric in METRICS:
        for column in ("external_value", "external_low", "external_high", "drop_low", "drop_high"):
            assert three.loc[metric, column] == pytest.approx(one.loc[metric, column], abs=1e-12), (metric, column)
        assert one.loc[metric, "external_high"] - one.loc[metric, "external_low"] > 0.01
    # and the groups are the manifest's: each image its own group narrows the interval
    alone = {**groups, **{i: i for i in ids("r", 45)}}
    apart = rows_of(compare_sources([(RUN, predictions(val, test, tripled))], manifest_of(alone), BOOTSTRAP, BINS))
    width = lambda rows, m: rows.loc[m, "external_high"] - rows.loc[m, "external_low"]  # noqa: E731
    assert width(apart, "balanced_accuracy") < 0.8 * width(three, "balanced_accuracy")


def test_weighted_ece_counts_an_image_as_often_as_its_weight():
    rng = np.random.default_rng(1)
    labels, probabilities = scores(rng, "lesion", 25, 1.0)
    weights = rng.integers(0, 4, size=(6, 25)).astype(float)
    ece = weighted_ece(weights, labels, probabilities, BINS)
    for row, value in zip(weights.astype(int), ece):
        repeated = np.repeat(np.arange(25), row)
        assert value == pytest.approx(expected_calibration_error(probabilities[repeated], labels[repeated], BINS),
                                      abs=1e-12)


def test_same_seed_same_table_other_seed_other_intervals():
    frame, groups = sample(tasks=("lesion", "malignancy"))
    first = compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS)
    again = compare_sources([(RUN, frame)], groups, BOOTSTRAP, BINS)  # the mapping image_id -> group_id
    pd.testing.assert_frame_equal(first, again)
    other = compare_sources([(RUN, frame)], manifest_of(groups), {**BOOTSTRAP, "seed": 1}, BINS)
    pd.testing.assert_series_equal(first["external_value"], other["external_value"])
    assert not np.allclose(first["external_low"], other["external_low"])
    assert not np.allclose(first["internal_low"], other["internal_low"])


def test_an_external_source_without_a_class():
    rng = np.random.default_rng(7)
    frame, groups = sample()
    ext_labels = rng.permutation(np.arange(30) % 2)  # MEL and NV only: no BCC in the truth
    ext_labels, ext_p = scores(rng, "lesion", 30, 1.0, labels=ext_labels)
    frame = frame[frame["split"] != "external:clinic"]
    frame = predictions(frame, part("lesion", "external:clinic", ids("lesione", 30), ext_labels, ext_p))
    assert (ext_p.argmax(axis=1) == 2).any()  # BCC is predicted, though absent from the truth
    with pytest.warns(UserWarning):  # scikit-learn: y_pred has a class y_true lacks
        expected_balanced = balanced_accuracy_score(ext_labels, ext_p.argmax(axis=1))
    rows = rows_of(compare_sources([(RUN, frame)], manifest_of(groups), BOOTSTRAP, BINS))
    assert rows.loc["balanced_accuracy", "external_value"] == pytest.approx(expected_balanced, abs=1e-12)
    assert rows.loc["macro_f1", "external_value"] == pytest.approx(
        f1_score(ext_labels, ext_p.argmax(axis=1), average="macro"), abs=1e-12)  # BCC in the predictions: F1 0
    assert rows.loc["auroc", "external_value"] == pytest.approx(
        np.mean([roc_auc_score(ext_labels == k, ext_p[:, k]) for k in (0, 1)]), abs=1e-12)
    for metric in METRICS:  # defined, and every resample of it too (no class is needed in a resample)
        assert np.isfinite(rows.loc[metric, ["external_value", "external_low", "external_high"]].astype(float)).all()
    # the internal side, with every class, is scored by the same definitions
    labels, probabilities = split_of(frame, "lesion", "test")
    assert rows.loc["macro_f1", "internal_value"] == pytest.approx(
        f1_score(labels, probabilities.argmax(axis=1), average="macro"), abs=1e-12)


def malignancy_run(val_labels=None, test_labels=None, external_labels=None, seed=11):
    rng = np.random.default_rng(seed)
    parts = []
    for split, prefix, n, given in (("val", "v", 40, val_labels), ("test", "t", 40, test_labels),
                                    ("external:clinic", "e", 30, external_labels)):
        labels, probabilities = scores(rng, "malignancy", n, 1.5)
        parts.append(part("malignancy", split, ids(prefix, n), labels if given is None else np.asarray(given),
                          probabilities))
    groups = {i: f"g-{i[0]}{int(i[1:]) // 2}" for p in parts for i in p["image_id"]}
    return predictions(*parts), groups


def test_operating_point_thresholds_come_from_internal_val_only():
    frame, groups = malignancy_run()
    points = external_operating_points([(RUN, frame)], manifest_of(groups), BOOTSTRAP)
    assert list(points["operating_point"]) == ["sensitivity@specificity0.80", "sensitivity@specificity0.90",
                                              "sensitivity@specificity0.95", "specificity@sensitivity0.95"]
    assert (points["source"] == "clinic").all() and (points["target"] == "malignant").all()
    # the rates at the threshold, counted by hand on each side
    for side, split in (("internal", "test"), ("external", "external:clinic")):
        labels, probabilities = split_of(frame, "malignancy", split)
        for row in points.itertuples():
            called = probabilities[:, 1] >= row.threshold
            assert getattr(row, f"{side}_sensitivity_value") == pytest.approx(called[labels == 1].mean())
            assert getattr(row, f"{side}_specificity_value") == pytest.approx((~called[labels == 0]).mean())
    assert np.allclose(points["drop_sensitivity_value"],
                       points["internal_sensitivity_value"] - points["external_sensitivity_value"])
    assert ((points["external_sensitivity_low"] <= points["external_sensitivity_value"])
            & (points["external_sensitivity_value"] <= points["external_sensitivity_high"])).all()
    # val specificity reaches each target: the thresholds were chosen there
    assert (points["val_specificity"].iloc[:3].to_numpy() >= [0.80, 0.90, 0.95]).all()

    ext = split_of(frame, "malignancy", "external:clinic")[0]
    flipped, _ = malignancy_run(external_labels=1 - ext)
    moved_outside = external_operating_points([(RUN, flipped)], manifest_of(groups), BOOTSTRAP)
    assert np.array_equal(moved_outside["threshold"], points["threshold"])
    assert not np.allclose(moved_outside["external_sensitivity_value"], points["external_sensitivity_value"])
    test = split_of(frame, "malignancy", "test")[0]
    flipped_test, _ = malignancy_run(test_labels=1 - test)
    assert np.array_equal(external_operating_points([(RUN, flipped_test)], manifest_of(groups), BOOTSTRAP)["threshold"],
                          points["threshold"])
    val = split_of(frame, "malignancy", "val")[0]
    flipped_val, _ = malignancy_run(val_labels=1 - val)
    moved_val = external_operating_points([(RUN, flipped_val)], manifest_of(groups), BOOTSTRAP)
    assert not np.array_equal(moved_val["threshold"], points["threshold"])


def write_study(root, external_sources=("clinic", "ham")):
    """Two encoders x two losses x two seeds; per encoder one loss is better on val (and worse on test)."""
    better_on_val = {"enc_a": "lmf", "enc_b": "wce"}
    paths, groups, n_runs = [], {}, 0
    for encoder in ("enc_a", "enc_b"):
        for loss in ("wce", "lmf"):
            for seed in (0, 1):
                rng = np.random.default_rng(n_runs)
                n_runs += 1
                parts = []
                for task in TASK_CLASSES:
                    good = loss == better_on_val[encoder]
                    splits = [("val", "v", 30, 4.0 if good else 0.2), ("test", "t", 30, 0.5 if good else 3.0)]
                    splits += [(f"external:{s}", s, 24, 1.0) for s in external_sources]
                    for split, prefix, n, skill in splits:
                        image_ids = ids(f"{task}-{prefix}", n)
                        parts.append(part(task, split, image_ids, *scores(rng, task, n, skill)))
                        groups.update({i: f"{prefix}{k // 2}" for k, i in enumerate(image_ids)})
                path = root / "runs" / "exp1" / loss / "mlp" / "full" / f"{encoder}-cls-r224" / f"seed{seed}"
                write_tsv(predictions(*parts), path / "predictions.tsv")
                paths.append(path / "predictions.tsv")
    write_tsv(manifest_of(groups), root / "manifest.tsv")
    return paths, better_on_val


def tabulate(root, paths):
    out = root / "out"
    files = {"table": out / "runs.tsv", "stem": out / "external_sources", "png": out / "external_sources.png",
             "points": out / "operating_points.tsv", "svg": out / "external_sources.svg"}
    table = tabulate_external_sources(paths, root / "manifest.tsv", files["table"], files["stem"], files["png"],
                                      files["points"], BOOTSTRAP, BINS, "macro_f1", figure_svg=files["svg"])
    return table, files


def markdown_rows(path):
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def test_the_summary_has_one_row_per_encoder_task_source_and_metric_of_the_runs_chosen_on_val(tmp_path):
    paths, better_on_val = write_study(tmp_path)
    table, files = tabulate(tmp_path, paths)
    # every run, every task, source and metric in the tidy table
    assert len(table) == 8 * 2 * 2 * len(METRICS)
    assert len(read_tsv(files["table"])) == len(table)
    header, rows = markdown_rows(files["stem"].with_suffix(".md"))
    assert header == ["task", "encoder", "run", "source", "metric", "internal [interval]", "external [interval]",
                      "drop [interval]", "groups"]
    keys = [(r["encoder"], r["task"], r["source"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * 2 * 2 * len(METRICS)
    for row in rows:  # the configuration chosen on val, at its first seed
        assert row["run"] == f"exp1/{better_on_val[row['encoder']]}/mlp/full/{row['encoder']}-cls-r224/seed0"
        assert row["groups"] == "15 / 12"
    points = read_tsv(files["points"])
    assert len(points) == 8 * 2 * 4 and set(points["task"]) == {"malignancy"}  # runs x sources x points
    assert files["png"].stat().st_size > 0 and files["svg"].stat().st_size > 0


def test_without_an_external_source_the_outputs_are_empty_but_valid(tmp_path):
    paths, _ = write_study(tmp_path, external_sources=())
    table, files = tabulate(tmp_path, paths)
    assert table.empty and list(read_tsv(files["table"]).columns) == list(table.columns)
    assert read_tsv(files["points"]).empty
    header, rows = markdown_rows(files["stem"].with_suffix(".md"))
    assert rows == [] and "no external test source" in files["stem"].with_suffix(".md").read_text().lower()
    assert files["png"].read_bytes().startswith(b"\x89PNG")
