"""The ood_scores step on a tiny study on disk, with a real HeadModel and feature store."""

import filecmp

import numpy as np
import pandas as pd
import pytest

from samderm.io import read_tsv
from samderm.ood.gate import gate_threshold
from samderm.ood.metrics import METRICS
from samderm.ood.pipeline import FeatureLookup, run_ood, score_run

from .conftest import OOD_CONFIG, RUN_PATH, SPLIT_SIZES, STORE, study_tables, write_study

OUTPUTS = ("scores", "metrics", "curves", "gate", "tuning", "end_to_end", "end_to_end_images", "class_rejection",
           "risk_coverage")


def run(root, out):
    store = root / STORE
    outputs = {name: out / f"{name}.tsv" for name in OUTPUTS}
    run_ood(root / "results/runs" / RUN_PATH / "model.pt", root / "results/data/manifest.tsv",
            root / "results/data/splits.tsv", root / "results/data/views/original.tsv",
            [store / "features.npy", store / "index.tsv", store / "settings.json"], OOD_CONFIG, outputs)
    return {name: read_tsv(path) for name, path in outputs.items()}


@pytest.fixture(scope="module")
def tables(study, tmp_path_factory):
    return run(study, tmp_path_factory.mktemp("ood"))


def test_every_table_states_its_convention(study, tables, tmp_path):
    run(study, tmp_path)
    first = {name: (tmp_path / f"{name}.tsv").read_text().splitlines()[0] for name in OUTPUTS}
    assert first["scores"] == "# score convention: higher = more likely OOD"
    for name in ("metrics", "curves", "tuning"):
        assert first[name].startswith("# OOD is the positive class (OpenOOD v1.5)")
    for name in ("gate", "end_to_end", "end_to_end_images", "class_rejection", "risk_coverage"):
        assert "higher = more likely OOD" in first[name], name


def test_scores_cover_each_heads_val_and_test_images_once(tables):
    scores = tables["scores"]
    n_val_test = {s: sum(SPLIT_SIZES[s][1:]) for s in SPLIT_SIZES}
    expected = {"skin": n_val_test["lesion"] + n_val_test["not_skin"] + n_val_test["ood"],
                "lesion": n_val_test["lesion"] + n_val_test["ood"]}
    for (head, detector), group in scores.groupby(["head", "detector"]):
        assert len(group) == expected[head] and group["image_id"].is_unique
        assert set(group["split"]) == {"val", "test"}
        assert (group["in_distribution"] == (group["source"] != "ood").astype(int).astype(str)).all()
    assert len(scores) == len(OOD_CONFIG["detectors"]) * sum(expected.values())
    assert "broken" not in set(scores["image_id"]) and not scores["image_id"].str.contains("__aug").any()


def test_metrics_are_reported_on_test_for_every_head_and_detector(tables):
    metrics = tables["metrics"]
    # a splits table without levels: every OOD category is far, reported as far and pooled (all)
    assert set(metrics["ood_level"]) == {"far", "all"}
    assert len(metrics) == 2 * 2 * len(OOD_CONFIG["detectors"]) * len(METRICS) and set(metrics["split"]) == {"test"}
    metrics = metrics[metrics["ood_level"] == "all"]
    assert set(metrics["n_ood"]) == {str(SPLIT_SIZES["ood"][2])}
    assert set(metrics["protocol"]) == {"held_out_categories"}  # the splits' protocol reaches the table
    auroc = metrics[metrics["metric"] == "auroc"].set_index(["head", "detector"])["value"].astype(float)
    # the OOD images sit between the lesion classes: every detector separates them on the lesion
    # head; the skin head's "skin" class merges four clusters whose mean lies near the OOD images,
    # which weakens Mahalanobis there (a real limit of one Gaussian per class)
    assert (auroc.loc["lesion"] > 0.95).all() and (auroc.loc["skin"] > 0.7).all(), auroc
    assert auroc.loc[("skin", "msp")] > 0.9
    curves = tables["curves"]
    assert set(curves.groupby(["head", "detector"])["curve"].unique().map(frozenset)) == {frozenset({"roc", "pr"})}


def test_tuning_records_the_whole_grid_and_one_choice(tables):
    tuning = tables["tuning"]
    assert {f"val_{m}" for m in METRICS} <= set(tuning.columns)
    assert set(tuning.loc[tuning["detector"] == "knn", "k"]) == {"5", "20"}  # integers, not 5.0
    sizes = tuning.groupby(["head", "detector"]).size().to_dict()
    grid_sizes = {"odin": 4, "energy": 2, "knn": 2, "vim": 2, "gen": 4}
    assert sizes == {(h, d): grid_sizes.get(d, 1) for h in ("skin", "lesion") for d in OOD_CONFIG["detectors"]}
    assert (tuning.groupby(["head", "detector"])["chosen"].apply(lambda c: (c == "True").sum()) == 1).all()
    chosen = tuning[(tuning["chosen"] == "True") & (tuning["detector"] == "odin")]
    params = tables["metrics"].set_index(["head", "detector"])["params"]
    for _, row in chosen.iterrows():
        assert params.loc[(row["head"], "odin")].iloc[0] == f"temperature={float(row['temperature']):g} epsilon={float(row['epsilon']):g}"


def test_gate_counts_reconcile_with_the_scores(tables):
    scores, gate = tables["scores"], tables["gate"]
    scores["score"] = scores["score"].astype(float)
    for (head, detector), rows in gate.groupby(["head", "detector"]):
        own = scores[(scores["head"] == head) & (scores["detector"] == detector)]
        val_id = own[(own["split"] == "val") & (own["in_distribution"] == "1")]["score"]
        threshold = float(rows["threshold"].iloc[0])
        assert threshold == pytest.approx(gate_threshold(val_id.to_numpy(), OOD_CONFIG["tpr"]))
        for population, source, n in (("ood", "ood", SPLIT_SIZES["ood"][2]), ("lesion", "lesion", SPLIT_SIZES["lesion"][2])):
            part = rows[rows["population"] == population].set_index("predicted")
            assert part["n_without_gate"].astype(int).sum() == n == part["n_with_gate"].astype(int).sum()
            tested = own[(own["split"] == "test") & (own["source"] == source)]["score"]
            assert int(part.loc["rejected", "n_with_gate"]) == int((tested > threshold).sum())
        lesion = rows[rows["population"] == "lesion"].set_index("predicted")
        assert lesion.loc["MEL", "malignancy"] == "malignant" and lesion.loc["NV", "malignancy"] == "benign"


def test_same_inputs_give_the_same_files(study, tables, tmp_path):
    run(study, tmp_path / "a")
    run(study, tmp_path / "b")
    for name in OUTPUTS:
        assert filecmp.cmp(tmp_path / "a" / f"{name}.tsv", tmp_path / "b" / f"{name}.tsv", shallow=False), name


def test_tuning_never_sees_the_test_split(tables, tmp_path):
    # the same study, with only the OOD test features moved: tuning must not change, results must
    moved = run(write_study(tmp_path / "study", ood_test_shift=4.0), tmp_path / "out")
    pd.testing.assert_frame_equal(moved["tuning"], tables["tuning"])
    assert not moved["metrics"]["value"].equals(tables["metrics"]["value"])


def test_bad_inputs_are_named():
    from .conftest import train_head

    manifest, splits, views, view_ids, features = study_tables()
    model = train_head(manifest, views, view_ids, features)
    lookup = FeatureLookup(view_ids, features, "store-X")
    names = {"views": "views.tsv", "splits": "splits.tsv"}
    with pytest.raises(ValueError, match=r"store-X: no features for 1 image\(s\), e.g. \['lesion_test_000'\]"):
        keep = [i for i, v in enumerate(view_ids) if v != "lesion_test_000"]
        score_run(model, manifest, splits, views, FeatureLookup([view_ids[i] for i in keep], features[keep], "store-X"), OOD_CONFIG, names)
    bad_splits = splits.copy()
    bad_splits.loc[bad_splits["image_id"] == "ood_val_000", "split"] = "train"
    with pytest.raises(ValueError, match=r"splits.tsv: OOD images must be in val or test only.*ood_val_000"):
        score_run(model, manifest, bad_splits, views, lookup, OOD_CONFIG, names)
    bad_manifest = manifest.copy()
    bad_manifest.loc[bad_manifest["image_id"] == "lesion_train_001", "lesion_class"] = "DF"
    with pytest.raises(ValueError, match=r"views.tsv: 1 lesion row\(s\) have a class the head does not know.*'lesion_train_001' \('DF'\)"):
        score_run(model, bad_manifest, splits, views, lookup, OOD_CONFIG, names)
    with pytest.raises(ValueError, match=r"ood.heads names 'malignancy'"):
        score_run(model, manifest, splits, views, lookup, {**OOD_CONFIG, "heads": ["malignancy"]}, names)
    no_ood_val = splits[~splits["image_id"].str.startswith("ood_val")]
    with pytest.raises(ValueError, match=r"splits.tsv: the skin head has no OOD images in val"):
        score_run(model, manifest, no_ood_val, views, lookup, OOD_CONFIG, names)


def test_end_to_end_judges_every_test_image_once_per_head_and_detector(tables):
    images, table, gate = tables["end_to_end_images"], tables["end_to_end"], tables["gate"]
    scores = tables["scores"].astype({"score": float})
    n_test = {source: sizes[2] for source, sizes in SPLIT_SIZES.items()}
    assert set(images["head"]) == {"lesion"}  # per image: the gating head only
    sums = table.astype({"n": int}).groupby(["head", "detector", "source"])["n"].sum().unstack("source")
    assert len(sums) == 2 * len(OOD_CONFIG["detectors"]) and (sums == pd.Series(n_test)).all().all()
    for (head, detector), rows in images.groupby(["head", "detector"]):
        assert rows["image_id"].is_unique and rows.groupby("source").size().to_dict() == n_test
        counts = table[(table["head"] == head) & (table["detector"] == detector)]
        assert counts.astype({"n": int}).groupby("source")["n"].sum().to_dict() == n_test
        threshold = float(rows["threshold"].iloc[0])
        assert threshold == float(gate[(gate["head"] == head) & (gate["detector"] == detector)]["threshold"].iloc[0])
        # the same scores as scores.tsv where the head has them; the lesion head also scores not_skin images
        own = scores[(scores["head"] == head) & (scores["detector"] == detector)].set_index("image_id")["score"]
        scored = rows[rows["image_id"].isin(own.index)]
        assert np.array_equal(scored["score"].astype(float).to_numpy(), own.loc[scored["image_id"]].to_numpy())
        assert len(scored) == len(rows) - (n_test["not_skin"] if head == "lesion" else 0)
        skin = rows["skin_predicted"] == "not_skin"
        ood = ~skin & (rows["score"].astype(float) > threshold)
        assert (rows.loc[skin, "outcome"] == "rejected_not_skin").all() and (rows.loc[ood, "outcome"] == "rejected_ood").all()
        assert (rows.loc[~skin & ~ood, "outcome"] == rows.loc[~skin & ~ood, "lesion_predicted"]).all()
        # the gate table's lesion rejections are the detector stage alone (it has no skin stage)
        lesions = rows[rows["source"] == "lesion"]
        gate_rejected = gate[(gate["head"] == head) & (gate["detector"] == detector) & (gate["population"] == "lesion")
                             & (gate["predicted"] == "rejected")]["n_with_gate"]
        assert int(gate_rejected.iloc[0]) == int((lesions["score"].astype(float) > threshold).sum())
    classes = tables["class_rejection"].astype({"n_test": int})
    assert (classes.groupby(["head", "detector"])["n_test"].sum() == n_test["lesion"]).all()
    curve = tables["risk_coverage"].astype({"coverage": float, "aurc": float})
    assert (curve.groupby(["head", "detector"])["coverage"].max() == 1.0).all()
    assert (curve.groupby(["head", "detector"])["aurc"].nunique() == 1).all()
    # the gate's own operating point lies on the curve: the lesions it accepts are those up to its threshold
    for (head, detector), points in curve[curve["head"] == "lesion"].groupby(["head", "detector"]):
        threshold = float(points["threshold"].iloc[0])
        lesions = images[(images["head"] == head) & (images["detector"] == detector) & (images["source"] == "lesion")]
        accepted = (lesions["score"].astype(float) <= threshold).mean()
        below = points[points["max_score"].astype(float) <= threshold]
        assert (below["coverage"].max() if len(below) else 0.0) == pytest.approx(accepted)
