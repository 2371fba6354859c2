"""The report opens in a real headless Chromium: the page, a figure and a table render, with no
JavaScript errors. Runs on a tiny workflow's report now and on the finished demo study when the
session fixture ``finished_study`` (tests/conftest.py) provides one."""

import subprocess
import sys
import textwrap

import pytest

from tests.report.browser import ReportPage, headless_chromium, require_chromium

pytestmark = pytest.mark.browser

TINY_SNAKEFILE = textwrap.dedent('''
    report: "workflow.rst"

    rule all:
        input: "results/line.png", "results/table.html"

    rule plot_line:
        output: report("results/line.png", caption="line.rst", category="Figures", labels={"figure": "a line"})
        run:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots()
            ax.plot([0, 1], [0, 1])
            fig.savefig(output[0])

    rule write_table:
        output: report("results/table.html", caption="line.rst", category="Tables", labels={"table": "numbers"})
        run:
            import pandas as pd
            pd.DataFrame({"metric": ["auroc"], "value": [0.875]}).to_html(output[0], index=False)
''')


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """A real Snakemake run and ``snakemake --report`` of a two-rule workflow."""
    require_chromium()
    work = tmp_path_factory.mktemp("tiny_workflow")
    (work / "Snakefile").write_text(TINY_SNAKEFILE)
    (work / "workflow.rst").write_text("A tiny workflow that draws **one line**.\n")
    (work / "line.rst").write_text("A line from (0, 0) to (1, 1).\n")
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1", "--quiet"]
    subprocess.run(snakemake, cwd=work, check=True, capture_output=True)
    subprocess.run([*snakemake, "--report", "report.html"], cwd=work, check=True, capture_output=True)
    return work / "report.html"


def check_figure(page: ReportPage, category: str, subcategory: str | None, label: str, shot) -> None:
    page.open_category(category, subcategory)
    img = page.view(label)
    assert img.tag_name == "img"
    width, height = page.image_size(img)
    assert width > 200 and height > 200, f"{category}/{label}: the figure did not decode ({width} x {height})"
    page.screenshot(shot)


def check_table(page: ReportPage, category: str, subcategory: str | None, label: str, expected: str, shot) -> None:
    page.open_category(category, subcategory)
    frame = page.view(label)
    assert frame.tag_name == "iframe"
    assert expected in page.iframe_text(frame), f"{category}/{label}: the table is not shown inline"
    page.screenshot(shot)


def test_tiny_report_renders_page_figure_and_table(tiny_report, tmp_path):
    with headless_chromium() as driver:
        page = ReportPage(driver, tiny_report)
        assert "A tiny workflow that draws" in driver.find_element("tag name", "body").text
        page.screenshot(tmp_path / "page.png")
        check_figure(page, "Figures", None, "a line", tmp_path / "figure.png")
        check_table(page, "Tables", None, "numbers", "0.875", tmp_path / "table.png")
        assert page.severe_errors() == []
    assert (tmp_path / "figure.png").stat().st_size > (tmp_path / "page.png").stat().st_size / 4


def test_the_browser_check_fails_on_a_broken_figure(tiny_report, tmp_path):
    """Guard of the guard: a report whose figure is not a decodable image is caught."""
    broken = tmp_path / "broken.html"
    text = tiny_report.read_text()
    start = text.index("base64,iVBOR") + len("base64,")  # the PNG's data
    broken.write_text(text[:start] + "AAAA" + text[start + 400:])
    with headless_chromium() as driver:
        page = ReportPage(driver, broken)
        with pytest.raises(AssertionError, match="did not decode"):
            check_figure(page, "Figures", None, "a line", tmp_path / "broken.png")


@pytest.mark.slow  # finished_study runs the whole demo study first
def test_study_report_renders_every_category(request, tmp_path):
    try:
        work = request.getfixturevalue("finished_study")
    except pytest.FixtureLookupError:
        pytest.skip("no finished_study fixture in tests/conftest.py yet")
    report = work / "results" / "report.html"  # finished_study is the study's working directory
    with headless_chromium() as driver:
        page = ReportPage(driver, report)
        page.screenshot(tmp_path / "study_page.png")
        intro = driver.find_element("tag name", "body").text
        # each encoder named with its own family, and the random-weights warning a readable list
        assert "tiny: SAM2.1 Hiera tiny" in intro and "vit_tiny: timm vit_tiny_patch16_224" in intro, intro[:2000]
        assert "tiny, vit_tiny, clip have no checkpoint" in intro and "``" not in intro, intro[:2000]
        for category in ("Data", "Features", "Classification", "Calibration", "Claims", "OOD", "Crops"):
            assert category in page.link_texts(), f"{report}: no category {category}"
        check_figure(page, "Classification", "Figures", "lesion macro-F1 by loss", tmp_path / "study_f1.png")
        check_figure(page, "OOD", "Figures", "ROC and PR curves", tmp_path / "study_ood.png")
        check_table(page, "Classification", "Tables", "best model per task", "lesion", tmp_path / "study_best.png")
        check_table(page, "Claims", None, "paired differences with intervals", "excludes_zero", tmp_path / "claims.png")
        check_figure(page, "Calibration", "Figures", "reliability diagrams, best model per task",
                     tmp_path / "reliability.png")
        assert page.severe_errors() == []
