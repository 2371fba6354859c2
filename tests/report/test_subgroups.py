"""Subgroup tables of the models chosen on val and the gate's rejections per subgroup (samderm.report.subgroups),
on small synthetic predictions, manifest, ita.tsv and end_to_end_images."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.metrics import balanced_accuracy_score, f1_score

from samderm.io import read_tsv, write_tsv
from samderm.metrics.bootstrap import group_weights
from samderm.report.aggregate import run_from_dir
from samderm.report.external_sources import validation_table
from samderm.report.subgroups import GAP_ROW, gate_subgroups, tabulate_subgroups

from .test_external_sources import LESION, TASK_CLASSES, part  # one predictions layout for both tables

BOOTSTRAP = {"resamples": 200, "level": 0.9, "seed": 3}
SUBGROUPS = {"columns": ["sex", "age_band", "site", "ita_category"], "age_edges": [30, 45, 60, 75], "min_size": 10}
BINS = 5


def predictions(rng, skill):
    parts = []
    columns = [f"p_{c}" for classes in TASK_CLASSES.values() for c in classes]
    for task, classes in TASK_CLASSES.items():
        for split, prefix, n in (("val", "v", 30), ("test", "t", 60), ("external:clinic", "e", 24)):
            labels = rng.permutation(np.arange(n) % len(classes))
            logits = rng.normal(size=(n, len(classes)))
            logits[np.arange(n), labels] += skill
            parts.append(part(task, split, [f"{prefix}{i:03d}" for i in range(n)], labels, softmax(logits, axis=1)))
    return pd.concat(parts, ignore_index=True).reindex(columns=["image_id", "split", "task", "label", "predicted",
                                                                 *columns])


def manifest():
    ids = [f"{p}{i:03d}" for p, n in (("v", 30), ("t", 60), ("e", 24)) for i in range(n)]
    n = len(ids)
    index = np.arange(n)
    return pd.DataFrame({"image_id": ids, "source": "lesion", "lesion_class": "",
                         # two images per lesion group, one of each sex: the sexes share their groups
                         "group_id": [f"grp-{i[0]}{int(i[1:]) // 2}" for i in ids],
                         "sex": np.array(["female", "male"])[index % 2],
                         "age": np.where(index % 7 == 0, "", (20 + index % 70).astype(str)),
                         "site": np.where(index % 11 == 0, "", np.array(["back", "face", "leg"])[index % 3]),
                         "fitzpatrick": ""})


def ita_table(ids):
    category = ["light" if i % 2 else "" for i in range(len(ids))]
    return pd.DataFrame({"image_id": ids, "ita": "", "ita_category": category,
                         "skin_share": "", "skin_from": "", "reason": ""})


def write_study(tmp_path):
    """Two encoders with one configuration of two seeds each; the val-best configuration per encoder is read at its
    first seed."""
    rng = np.random.default_rng(0)
    paths, runs = [], []
    for encoder, skill in (("enc_a", 2.0), ("enc_b", 1.0)):
        for seed in (0, 1):
            d = tmp_path / "results" / "runs" / "exp1" / "wce" / "mlp" / "full" / f"{encoder}-cls-r224" / f"seed{seed}"
            d.mkdir(parents=True)
            frame = predictions(rng, skill)
            write_tsv(frame, d / "predictions.tsv")
            paths.append(d / "predictions.tsv")
            runs.append((run_from_dir(d).as_dict(), frame))
    write_tsv(validation_table(runs), tmp_path / "runs.tsv")  # runs.tsv's val rows: the selection reads them
    frame = manifest()
    write_tsv(frame, tmp_path / "manifest.tsv")
    write_tsv(ita_table(frame["image_id"].tolist()), tmp_path / "ita.tsv")
    return paths, frame


def test_tabulate_subgroups_writes_the_tables_of_the_selected_runs(tmp_path):
    paths, frame = write_study(tmp_path)
    out = tmp_path / "out"
    figures = {t: out / f"subgroups_{t}.png" for t in ("lesion", "malignancy")}
    table = tabulate_subgroups(paths, tmp_path / "manifest.tsv", tmp_path / "ita.tsv", out / "subgroups_runs.tsv",
                               out / "subgroups", out / "subgroups_gate", figures, BOOTSTRAP, BINS, "macro_f1",
                               SUBGROUPS, figure_svgs={t: p.with_suffix(".svg") for t, p in figures.items()},
                               runs_tsv=tmp_path / "runs.tsv")
    for name in ("subgroups_runs.tsv", "subgroups.md", "subgroups.csv", "subgroups.tex", "subgroups.html",
                 "subgroups_gate.md", "subgroups_lesion.png", "subgroups_malignancy.svg"):
        assert (out / name).exists(), name
    written = read_tsv(out / "subgroups_runs.tsv")
    assert len(written) == len(table)
    assert set(table["seed"]) == {0}  # the first seed of each selected configuration
    assert set(table["encoder"]) == {"enc_a", "enc_b"}
    assert set(table["split"]) == {"test", "external:clinic"}
    assert {"unknown", "<30", ">=75"} <= set(table.loc[table["column"] == "age_band", "group"])
    assert "unknown" in set(table.loc[table["column"] == "ita_category", "group"])

    # point values against scikit-learn on the subgroup's rows
    run = read_tsv(paths[0])  # enc_a seed 0
    test = run[(run["task"] == "lesion") & (run["split"] == "test")].sort_values("image_id")
    sex = frame.set_index("image_id").loc[test["image_id"], "sex"].to_numpy()
    mine = table[(table["encoder"] == "enc_a") & (table["task"] == "lesion") & (table["split"] == "test")
                 & (table["column"] == "sex")].set_index(["group", "metric"])
    for group in ("female", "male"):
        rows = test[sex == group]
        assert mine.loc[(group, "macro_f1"), "value"] == pytest.approx(
            f1_score(rows["label"], rows["predicted"], average="macro"))
        assert mine.loc[(group, "balanced_accuracy"), "n_images"] == 30

    # the gap's interval comes from one group_weights matrix of all the test images (paired)
    labels = test["label"].map(LESION.index).to_numpy()
    predicted = test[[f"p_{c}" for c in LESION]].to_numpy(float).argmax(1)
    groups = frame.set_index("image_id").loc[test["image_id"], "group_id"].to_numpy()
    weights = group_weights(groups, BOOTSTRAP["resamples"], BOOTSTRAP["seed"])
    gap = mine.xs("balanced_accuracy", level="metric").iloc[0]
    best, worst = gap["best_group"], gap["worst_group"]
    per = {g: np.array([balanced_accuracy_score(labels[sex == g], predicted[sex == g], sample_weight=w[sex == g])
                        for w in weights]) for g in (best, worst)}
    expected = np.quantile(per[best] - per[worst], [0.05, 0.95])
    assert [gap["gap_low"], gap["gap_high"]] == pytest.approx(list(expected))

    summary = pd.read_csv(out / "subgroups.csv")
    assert GAP_ROW in set(summary["group"])
    assert set(summary["task"]) == {"lesion", "malignancy"}
    assert "no OOD run" in (out / "subgroups_gate.md").read_text()


def test_gate_subgroups_shares_per_subgroup():
    ids = [f"t{i:03d}" for i in range(40)] + [f"e{i:03d}" for i in range(12)] + ["o1", "o2"]
    sex = ["female", "male"] * 20 + ["female"] * 8 + [""] * 4 + ["male", "male"]
    outcome = (["rejected_not_skin", "NV", "rejected_ood", "MEL"] * 10 + ["rejected_ood", "NV", "NV"] * 4
               + ["NV", "rejected_ood"])
    images = pd.DataFrame({"image_id": ids, "head": "lesion", "detector": "energy",
                           "source": ["lesion"] * 40 + ["external"] * 12 + ["ood"] * 2,
                           "category": [""] * 40 + ["clinic"] * 12 + ["dtd"] * 2,
                           "ood_level": [""] * 40 + ["shift"] * 12 + ["far"] * 2, "outcome": outcome})
    frame = pd.DataFrame({"image_id": ids, "group_id": [f"g{i // 2}" for i in range(len(ids))], "sex": sex})
    table = gate_subgroups(images, frame, None, {"columns": ["sex"], "min_size": 10}, BOOTSTRAP)
    assert set(table["split"]) == {"test", "external:clinic"}  # OOD images are no population here
    rows = table.set_index(["split", "column", "group"])
    female = rows.loc[("test", "sex", "female")]  # outcomes 0, 2, 0, 2, ...: skin head and gate alternate
    assert female["n_images"] == 20
    assert female["not_skin_value"] == pytest.approx(0.5) and female["ood_value"] == pytest.approx(0.5)
    assert female["rejected_value"] == pytest.approx(1.0)
    male = rows.loc[("test", "sex", "male")]
    assert male["rejected_value"] == pytest.approx(0.0)
    external = rows.loc[("external:clinic", "sex", "unknown")]
    assert external["n_images"] == 4 and bool(external["too_small"]) and np.isnan(external["ood_low"])
    assert external["ood_value"] == pytest.approx(1 / 4)
    assert rows.loc[("external:clinic", "all", "all"), "ood_value"] == pytest.approx(4 / 12)
    assert rows.loc[("test", "all", "all"), "ood_low"] <= 0.25 <= rows.loc[("test", "all", "all"), "ood_high"]


def test_gate_images_is_the_gate_of_the_gate_report(study, tmp_path):
    from samderm.report.aggregate import aggregate_runs, run_from_dir
    from samderm.report.subgroups import gate_images
    from tests.report.conftest import VAL_BEST
    from tests.report.test_gate_report import _images, write_end_to_end

    images, _ = _images(tmp_path)
    rng = np.random.default_rng(1)
    for d in study.ood_dirs:
        write_end_to_end(d, images, run_from_dir(d).seed, rng)
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    rows, run, head, detector = gate_images(tmp_path / "runs.tsv", [d / "tuning.tsv" for d in study.ood_dirs],
                                            [d / "end_to_end_images.tsv" for d in study.ood_dirs], ["skin", "lesion"],
                                            "macro_f1")
    # the gate report's choice: the val-best configuration, its first seed, the best mean val AUROC of the lesion head
    assert (run.experiment, run.loss, run.architecture) == VAL_BEST and run.seed == 0
    assert (head, detector) == ("lesion", "energy")
    assert set(rows["detector"]) == {"energy"} and set(rows["head"]) == {"lesion"}
    assert len(rows) == len(images)
