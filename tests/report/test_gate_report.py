"""The gate report over the study: the end-to-end files of every OOD run, as ood_scores writes them
(made here with samderm.ood.end_to_end.judge_gate), aggregated for the configuration chosen on val."""

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.io import read_tsv, write_tsv
from samderm.ood.end_to_end import REJECTED_NOT_SKIN, REJECTED_OOD, judge_gate
from samderm.report.aggregate import aggregate_runs, run_from_dir
from samderm.report.gate_report import detector_ranking, end_to_end_table, report_gate
from tests.report.conftest import CLASSES, VAL_BEST

DETECTORS = ["msp", "energy", "mahalanobis"]
# lesion head: mahalanobis is best on seed 0 only; energy has the best mean val AUROC (the best gate)
VAL_AUROC = {("lesion", "msp"): (0.7, 0.7), ("lesion", "energy"): (0.9, 0.9), ("lesion", "mahalanobis"): (0.95, 0.7),
             ("skin", "msp"): (0.99, 0.99), ("skin", "energy"): (0.5, 0.5), ("skin", "mahalanobis"): (0.5, 0.5)}
FILES = ("tuning", "end_to_end", "class_rejection", "risk_coverage", "end_to_end_images")


def _images(tmp_path):
    """8 lesion classes (DF has one test image), 3 not_skin, 6 OOD in two categories; real image files."""
    lesion = [c for c in CLASSES for _ in range(1 if c == "DF" else 3)]
    rows = [{"image_id": f"l{i}", "source": "lesion", "category": "", "lesion_class": c} for i, c in enumerate(lesion)]
    rows += [{"image_id": f"n{i}", "source": "not_skin", "category": "pets", "lesion_class": ""} for i in range(3)]
    rows += [{"image_id": f"o{i}", "source": "ood", "category": ["dtd", "places"][i % 2], "lesion_class": ""} for i in range(6)]
    images = pd.DataFrame(rows).assign(ood_level="", split="test")
    for image_id in images["image_id"]:
        Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(tmp_path / f"{image_id}.png")
    manifest = images[["image_id", "source", "category", "lesion_class"]].assign(path=[str(tmp_path / f"{i}.png") for i in images["image_id"]])
    return images, manifest


def write_end_to_end(ood_dir, images, seed, rng, accept_ood=True):
    tables = {name: [] for name in FILES}
    # what the heads say about an image is the same for every detector
    judged_images = images.assign(
        skin_predicted=np.where(rng.random(len(images)) < 0.15, "not_skin", "skin"),
        lesion_predicted=rng.choice(CLASSES, len(images)), lesion_probability=rng.uniform(0.2, 1, len(images)))
    for head, detector in itertools.product(["skin", "lesion"], DETECTORS):
        scores = rng.normal(size=len(images)) + 3.0 * (images["source"] != "lesion").to_numpy()
        if not accept_ood:
            scores[(images["source"] == "ood").to_numpy()] = 10.0
        judged = judge_gate(judged_images, scores, 1.5, CLASSES)
        for name in FILES[1:]:
            tables[name].append(judged[name].assign(head=head, detector=detector, threshold=1.5))
        tables["tuning"].append(pd.DataFrame({"head": [head], "detector": detector, "val_auroc": VAL_AUROC[head, detector][seed],
                                              "chosen": "True"}))
        tables["tuning"].append(pd.DataFrame({"head": [head], "detector": detector, "val_auroc": 1.0, "chosen": "False"}))
    for name, frames in tables.items():
        write_tsv(pd.concat(frames, ignore_index=True), ood_dir / f"{name}.tsv", "score convention: higher = more likely OOD")


def run_report(study, tmp_path, accept_ood=True):
    images, manifest = _images(tmp_path)
    write_tsv(manifest, tmp_path / "manifest.tsv")
    rng = np.random.default_rng(1)
    for d in study.ood_dirs:
        write_end_to_end(d, images, run_from_dir(d).seed, rng, accept_ood)
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    figures = {f"{f}_{x}": tmp_path / f"{f}.{x}" for f in ("risk", "sheet") for x in ("png", "svg")}
    report_gate(tmp_path / "runs.tsv", *([d / f"{name}.tsv" for d in study.ood_dirs] for name in FILES),
                tmp_path / "manifest.tsv", ["skin", "lesion"], "macro_f1", tmp_path, figures)
    best = [d for d in study.ood_dirs if tuple(d.relative_to(study.root / "ood").parts[:3]) == VAL_BEST]
    return best, figures


def test_best_gate_is_the_best_mean_val_auroc_of_the_lesion_head(study, tmp_path):
    best, _ = run_report(study, tmp_path)
    lesion = pd.concat([read_tsv(d / "tuning.tsv") for d in best])
    ranking = detector_ranking(lesion[lesion["head"] == "lesion"])
    assert ranking.index.tolist() == ["energy", "mahalanobis", "msp"]  # not skin's msp, not the unchosen 1.0 rows
    assert ranking["mahalanobis"] == pytest.approx(0.825)
    table = pd.read_csv(tmp_path / "ood_end_to_end.csv", keep_default_na=False)
    assert table["detector"].iloc[0] == "energy" and "ood_end_to_end" in {p.stem for p in tmp_path.glob("*.html")}


def test_end_to_end_table_sums_the_best_configurations_seeds(study, tmp_path):
    best, _ = run_report(study, tmp_path)
    assert len(best) == 2  # seeds 0 and 1
    table = pd.read_csv(tmp_path / "ood_end_to_end.csv", keep_default_na=False)
    assert "ood_level" not in table.columns  # every level empty: the column is left out
    written = pd.concat([read_tsv(d / "end_to_end_images.tsv") for d in best])
    written = written[written["head"] == "lesion"]
    assert set(table.loc[table["category"] == "(all)", "source"]) == {"ood"}  # the one source of several categories
    for (detector, source, category), row in table.set_index(["detector", "source", "category"]).iterrows():
        mine = written[(written["detector"] == detector) & (written["source"] == source)
                       & ((written["category"] == category) | (category == "(all)"))]
        assert row["n"] == len(mine) == 2 * (images_per := len(mine) // 2) and images_per > 0
        for outcome in [REJECTED_NOT_SKIN, REJECTED_OOD, *CLASSES]:
            assert row[outcome] == (mine["outcome"] == outcome).sum(), (detector, source, category, outcome)
        assert row["accepted"] == pytest.approx(1 - (row[REJECTED_NOT_SKIN] + row[REJECTED_OOD]) / row["n"])


def test_end_to_end_totals_per_ood_level_never_pool_in_distribution_with_ood():
    rows = [("lesion", "", "", REJECTED_OOD, 5), ("lesion", "", "", "MEL", 20), ("lesion", "held_out:DF", "near", REJECTED_OOD, 3),
            ("lesion", "held_out:DF", "near", "NV", 1), ("not_skin", "pets", "", REJECTED_NOT_SKIN, 4),
            ("ood", "dtd", "far", REJECTED_OOD, 6), ("ood", "places", "far", "NV", 2), ("ood", "places", "far", REJECTED_OOD, 1),
            ("ood", "skin_limb", "near", "MEL", 7), ("ood", "skin_torso", "near", REJECTED_NOT_SKIN, 2)]
    counts = pd.DataFrame(rows, columns=["source", "category", "ood_level", "outcome", "n"]).assign(detector="knn")
    table = end_to_end_table(counts, pd.Series({"knn": 0.8}), ["MEL", "NV"]).set_index(["source", "category", "ood_level"])
    ood = table.loc["ood"]
    assert ood.index.tolist() == [("dtd", "far"), ("places", "far"), ("(all)", "far"), ("skin_limb", "near"),
                                  ("skin_torso", "near"), ("(all)", "near"), ("(all)", "all")]
    assert ood.loc[("(all)", "far"), ["n", REJECTED_OOD, "NV"]].tolist() == [9, 7, 2]
    assert ood.loc[("(all)", "near"), ["n", REJECTED_NOT_SKIN, "MEL"]].tolist() == [9, 2, 7]
    assert ood.loc[("(all)", "all"), ["n", REJECTED_NOT_SKIN, REJECTED_OOD, "MEL", "NV"]].tolist() == [18, 2, 7, 7, 2]
    assert ood.loc[("(all)", "all"), "accepted"] == pytest.approx(9 / 18)
    # held-out images are near OOD of the lesion source: one category, no total; never summed with the 25 known lesions
    assert table.loc["lesion"].index.tolist() == [("", ""), ("held_out:DF", "near")]
    assert table.loc["not_skin"].index.tolist() == [("pets", "")]


def test_class_rejection_lists_every_class_with_its_single_image(study, tmp_path):
    best, _ = run_report(study, tmp_path)
    table = pd.read_csv(tmp_path / "ood_class_rejection.csv", keep_default_na=False)
    energy = table[table["detector"] == "energy"].set_index("lesion_class")
    assert energy.index.tolist() == CLASSES and energy.loc["DF", "n_test"] == 2  # one image, two seeds
    written = pd.concat([read_tsv(d / "end_to_end_images.tsv") for d in best])
    written = written[(written["head"] == "lesion") & (written["detector"] == "energy")]
    for cls, mine in written[written["source"] == "lesion"].groupby("lesion_class"):
        for stage in (REJECTED_OOD, REJECTED_NOT_SKIN):
            assert energy.loc[cls, stage] == (mine["outcome"] == stage).sum(), (cls, stage)
        assert energy.loc[cls, "rejected_fraction"] == pytest.approx(mine["outcome"].isin([REJECTED_OOD, REJECTED_NOT_SKIN]).mean())
    assert energy[REJECTED_NOT_SKIN].sum() > 0 and energy[REJECTED_OOD].sum() > 0  # both stages are exercised


def test_figures_are_drawn_and_the_contact_sheet_counts_the_accepted(study, tmp_path, caplog):
    caplog.set_level("INFO", logger="samderm.report.gate_report")
    best, figures = run_report(study, tmp_path)
    assert all(p.stat().st_size > 0 for p in figures.values())
    first = min(best, key=lambda d: run_from_dir(d).seed)
    rows = read_tsv(first / "end_to_end_images.tsv")
    rows = rows[(rows["head"] == "lesion") & (rows["detector"] == "energy") & (rows["source"] == "ood")]
    accepted = (~rows["outcome"].isin([REJECTED_NOT_SKIN, REJECTED_OOD])).sum()
    assert f"best gate energy (val AUROC 0.900) accepts {accepted} of 6 OOD test images (seed 0)" in caplog.text


def test_a_gate_that_accepts_no_ood_image_says_so(study, tmp_path, caplog):
    caplog.set_level("INFO", logger="samderm.report.gate_report")
    _, figures = run_report(study, tmp_path, accept_ood=False)
    assert "accepts 0 of 6 OOD test images" in caplog.text and figures["sheet_png"].stat().st_size > 0
