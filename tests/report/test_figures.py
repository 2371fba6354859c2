import textwrap

import pytest
from PIL import Image

from samderm.io import read_tsv, write_tsv
from samderm.report.aggregate import aggregate_runs
from samderm.report.contact_sheet import crop_contact_sheet
from samderm.report.figures import (balance_figure, class_histogram, confusion_figure, lesion_f1_by_loss,
                                    ood_curves_figure)
from samderm.report.rulegraph import draw_rulegraph, parse_rulegraph, snakemake_rulegraph
from tests.report.conftest import CLASSES, LABELS


def drawn(tmp_path, name):
    """The PNG is a real image of some size, and the SVG's text (kept as text) is returned."""
    with Image.open(tmp_path / f"{name}.png") as image:
        assert image.width > 300 and image.height > 200
    return (tmp_path / f"{name}.svg").read_text()


def test_class_histogram_shows_every_class_and_source(study, tmp_path):
    class_histogram(study.data / "manifest.tsv", study.data / "splits.tsv", tmp_path / "h.png", tmp_path / "h.svg",
                    LABELS, "drop")
    svg = drawn(tmp_path, "h")
    for label in [*CLASSES, "not_skin", "ood", "train", "val", "test"]:
        assert f">{label}<" in svg
    labels = [t.split(">")[-1] for t in svg.split("</text>")]
    totals = [label for label in labels if label.isdigit()]
    assert ["12", "30", "8", "5", "7", "3", "3", "4", "10", "6"] == totals[-10:]  # stack totals, in class order


def test_balance_figure_has_before_and_each_strategy(study, tmp_path):
    balance = [study.data / "balance" / f"{s}.tsv" for s in ("original", "smart")]
    balance_figure(balance, tmp_path / "b.png", tmp_path / "b.svg")
    svg = drawn(tmp_path, "b")
    assert ">before<" in svg and ">after original<" in svg and ">after smart<" in svg


def test_lesion_f1_and_confusion_matrix_of_the_model_chosen_on_val(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    lesion_f1_by_loss(tmp_path / "runs.tsv", "exp1", tmp_path / "f.png", tmp_path / "f.svg")
    svg = drawn(tmp_path, "f")
    assert ">wce<" in svg and ">lmf<" in svg and ">multihead<" in svg and "2 seed(s)" in svg
    metrics = [d / "metrics.json" for d in study.run_dirs]
    confusion_figure(tmp_path / "runs.tsv", metrics, "exp1", "macro_f1", tmp_path / "c.png", tmp_path / "c.svg")
    svg = drawn(tmp_path, "c")
    assert "lmf / parallel / full crop; test, 2 seed(s)" in svg  # the val-best, not the test-best (wce/multihead)
    assert "val macro_f1 0.905" in svg


def test_ood_curves_of_each_detector_against_the_baseline(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    curves = [d / "curves.tsv" for d in study.ood_dirs]
    ood_curves_figure(tmp_path / "runs.tsv", curves, "exp6", "macro_f1", tmp_path / "o.png", tmp_path / "o.svg")
    svg = drawn(tmp_path, "o")
    assert ">msp (baseline)<" in svg and ">odin<" in svg and ">mahalanobis<" in svg
    assert "lesion head: ROC, near OOD" in svg and "lesion head: ROC, far OOD" in svg and "exp6 / " in svg
    assert "skin head: precision-recall, all OOD" in svg and "precision-recall, near" not in svg


def test_ood_curves_of_one_level_are_drawn_once_as_all(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    curves = []
    for d in study.ood_dirs:  # a study without near OOD: far and all are the same images
        curves.append(tmp_path / "ood" / d.relative_to(study.root / "ood") / "curves.tsv")
        curves[-1].parent.mkdir(parents=True)
        every_level = read_tsv(d / "curves.tsv")
        write_tsv(every_level[every_level["ood_level"] != "near"], curves[-1])
    ood_curves_figure(tmp_path / "runs.tsv", curves, "exp6", "macro_f1", tmp_path / "o.png", tmp_path / "o.svg")
    svg = drawn(tmp_path, "o")
    assert "lesion head: ROC, all OOD" in svg and "far OOD" not in svg


def test_contact_sheet_tiles_every_overlay_and_names_an_empty_folder(study, tmp_path):
    overlays = study.root / "features" / "tiny-mean-r256" / "lesion" / "images" / "overlays"
    crop_contact_sheet(overlays, tmp_path / "s.png", tmp_path / "s.svg", "tiny crops")
    svg = drawn(tmp_path, "s")
    assert all(f">ISIC_{i}<" in svg for i in range(3))
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"{empty}: no overlay PNGs"):
        crop_contact_sheet(empty, tmp_path / "e.png", tmp_path / "e.svg", "x")


def test_rulegraph_from_real_snakemake_is_drawn(tmp_path):
    (tmp_path / "Snakefile").write_text(textwrap.dedent("""
        rule all:
            input: "c.txt"
        rule make_a:
            output: "a.txt"
            shell: "touch {output}"
        rule make_c:
            input: "a.txt", "b.txt"
            output: "c.txt"
            shell: "touch {output}"
        rule make_b:
            input: "a.txt"
            output: "b.txt"
            shell: "touch {output}"
        """))
    dot = snakemake_rulegraph(tmp_path / "Snakefile", {"study": "x"}, workdir=tmp_path)
    graph = parse_rulegraph(dot)
    assert set(graph.edges) == {("make_a", "make_b"), ("make_a", "make_c"), ("make_b", "make_c"), ("make_c", "all")}
    draw_rulegraph(graph, tmp_path / "g.png", tmp_path / "g.svg")
    svg = drawn(tmp_path, "g")
    assert ">make_b<" in svg and "3 rules, 3 dependencies" in svg  # without the target rule all
    with pytest.raises(ValueError, match="edge 1 -> 7"):
        parse_rulegraph('digraph {\n  1[label = "a"];\n  1 -> 7\n}')
