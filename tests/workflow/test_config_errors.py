"""A bad study config stops before any job, with one message that names the key and the problem.

Each case runs the real `snakemake -n` on a copy of the workflow with one overlay config."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from snakemake.utils import validate

from samderm.config import ConfigError, config_problems, load_yaml_strict
from tests.conftest import SNAKEMAKE, copy_workflow

MD5 = "e27b17d8d44f4af9a78502beb927f808"  # an md5 (Places365 val_256.tar), 32 hex digits
CASES = {
    "unknown loss": (
        "matrix: {experiments: [exp1], losses: [wce, hinge], architectures: [parallel]}",
        ["matrix.losses[1]", "unknown loss 'hinge'"],
    ),
    "semi-supervised experiment without unlabeled images": (
        "data: {unlabeled_dir: null}",
        ["experiments.exp1_ssl.semi_supervised: needs unlabeled images; set data.unlabeled_dir"],
    ),
    "unknown semi-supervised method": (
        "experiments: {exp1_ssl: {balancing: original, semi_supervised: {method: mixmatch}}}",
        ["semi_supervised", "method", "mixmatch"],
    ),
    "unknown architecture": (
        "matrix: {experiments: [exp1], losses: [wce], architectures: [transformer]}",
        ["matrix.architectures[0]", "unknown architecture 'transformer'"],
    ),
    "negative cap": (
        "balancing: {smart: {caps: {NV: -5}}}",
        ["balancing", "smart", "caps", "NV", "-5"],
    ),
    "missing data path": (
        "data: {source: isic2019, isic2019: {root: /nonexistent/isic}, not_skin_dir: /nonexistent/ns, ood_dir: /nonexistent/ood}",
        ["data.isic2019.root", "/nonexistent/isic", "does not exist", "data.not_skin_dir: folder '/nonexistent/ns'",
         "data.ood_dir: folder '/nonexistent/ood'"],
    ),
    "downloads enabled without checksums": (
        "data: {source: isic2019, download: {enabled: true}}",
        [f"data.download.isic2019.files.{key}.sha256: missing" for key in ("images", "ground_truth", "metadata")],
    ),
    "malformed sha256": (
        "data: {source: isic2019, download: {enabled: true, isic2019: {files: {metadata: {sha256: xyz}}}}}",
        ["data.download.isic2019.files.metadata.sha256: 'xyz' is not a sha256 (64 hex digits)"],
    ),
    "md5 where a sha256 is expected": (
        "data: {source: isic2019, download: {enabled: true, isic2019: {files: {metadata: {sha256: %s}}}}}" % MD5,
        ["data.download.isic2019.files.metadata.sha256: '%s' is an md5" % MD5,
         "write it as data.download.isic2019.files.metadata.md5"],
    ),
    "malformed md5 of a public set": (
        "data: {source: isic2019, download: {enabled: true, places365: {files: {images: {md5: nothex}}}},"
        " public: {ood: {places365: {categories: all}}}}",
        ["data.download.places365.files.images.md5: 'nothex' is not an md5"],
    ),
    "checkpoint URL without sha256": (
        "encoders: {tiny: {checkpoint: results/checkpoints/t.pt, url: 'https://example.org/sam2.1_hiera_tiny.pt'}}",
        ["encoders.tiny.sha256: missing"],
    ),
    "checkpoint md5 instead of sha256": (
        "encoders: {tiny: {checkpoint: results/checkpoints/t.pt, url: 'https://example.org/t.pt', sha256: %s}}" % MD5,
        ["encoders.tiny.sha256: '%s' is an md5 (32 hex digits), not a sha256 (64)\n" % MD5],
    ),
    "one category both not-skin and OOD": (
        "data: {public: {not_skin: {places365: {categories: [kitchen, /s/street]}},"
        " ood: {places365: {categories: [street, canyon]}}}, source: isic2019}",
        ["data.public.ood.places365.categories: ['street'] also in data.public.not_skin.places365.categories"],
    ),
    "a public set that nothing downloads": (
        "data: {source: isic2019, public: {ood: {dtd: {categories: all}}}}",
        ["data.public: draws from dtd but 'results/downloads/dtd' does not exist"],
    ),
    "OOD folder inside the not-skin folder": (
        "data: {not_skin_dir: results/data/not_skin, ood_dir: results/data/not_skin/places}",
        ["data.ood_dir", "overlaps data.not_skin_dir"],
    ),
    "resolution the encoder cannot take": (
        "matrix: {experiments: [exp1], losses: [wce], architectures: [parallel], resolutions: [200]}",
        ["matrix.resolutions[0]", "200 px", "multiple of 32"],
    ),
    "experiment named twice": (
        "experiments:\n  exp9: {balancing: original}\n  exp9: {balancing: smart}",
        ["duplicate key 'exp9'", "line 3"],
    ),
    "checkpoint URL without a file to download to": (
        "encoders: {tiny: {checkpoint: null, url: 'https://example.org/sam2.1_hiera_tiny.pt'}}",
        ["encoders.tiny.url is set but encoders.tiny.checkpoint is null"],
    ),
    "name outside the allowed characters": (
        "experiments: {'exp 7': {balancing: original}}",
        ["exp 7", "does not match"],
    ),
}


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("config_errors"))


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_config_stops_before_any_job(workflow_copy, tmp_path, case):
    overlay, expected = CASES[case]
    (tmp_path / "bad.yaml").write_text(overlay + "\n")
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(tmp_path / "bad.yaml")],
        cwd=workflow_copy, capture_output=True, text=True, timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{case}: snakemake accepted the config:\n{output[-2000:]}"
    assert "Job stats" not in output, f"{case}: jobs were planned before the error"
    for fragment in expected:
        assert fragment in output, f"{case}: '{fragment}' missing from:\n{output[-3000:]}"


def test_the_default_config_has_no_problems(repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    from snakemake.utils import validate

    validate(config, str(repo / "config/schema.yaml"))
    assert config_problems(config, root=repo) == []


def test_all_problems_are_reported_together(repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    from snakemake.utils import validate

    validate(config, str(repo / "config/schema.yaml"))
    config["matrix"]["losses"] = ["nope"]
    config["matrix"]["resolutions"] = [100]
    problems = config_problems(config, root=repo)
    assert any("unknown loss 'nope'" in p for p in problems)
    assert any("100 px" in p for p in problems)


def test_categories_missing_from_an_unpacked_set_are_named(repo, tmp_path):
    config = load_yaml_strict(repo / "config/config.yaml")
    from snakemake.utils import validate

    validate(config, str(repo / "config/schema.yaml"))
    for folder in ("isic", "ns", "pool"):
        (tmp_path / folder).mkdir()
    (tmp_path / "raw/dtd/dtd/images/banded").mkdir(parents=True)
    config["data"].update(source="isic2019", isic2019={"root": "isic", "masks": None}, not_skin_dir="ns",
                          ood_dir="ood", unlabeled_dir="pool", public={"seed": 0, "not_skin": {}, "ood": {"dtd": {"categories": ["banded", "bandd"]}}})
    config["data"]["download"]["dir"] = "raw"
    assert config_problems(config, root=tmp_path) == [
        "data.public.ood.dtd.categories: unknown dtd categories ['bandd']"]


def test_duplicate_keys_name_the_file_and_line(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent("""\
        losses:
          wce: {type: weighted_ce}
          wce: {type: focal}
    """))
    with pytest.raises(ConfigError, match=r"study.yaml, line 3: duplicate key 'wce'"):
        load_yaml_strict(path)


def test_held_out_classes_must_be_lesion_classes_and_leave_two(repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    from snakemake.utils import validate

    validate(config, str(repo / "config/schema.yaml"))
    config["experiments"]["exp1_open"]["held_out_classes"] = ["DFX"]
    assert "experiments.exp1_open.held_out_classes: ['DFX'] are not lesion classes" in " ".join(config_problems(config, root=repo))
    config["experiments"]["exp1_open"]["held_out_classes"] = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC"]
    assert any("needs at least 2 classes left" in p for p in config_problems(config, root=repo))


def _demo_config(repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    validate(config, str(repo / "config/schema.yaml"))
    return config


def test_probes_in_a_semi_supervised_experiment_are_refused_with_the_exclude_to_add(repo):
    config = _demo_config(repo)
    config["matrix"]["exclude"] = [p for p in config["matrix"]["exclude"] if "exp1_ssl" not in str(p.get("experiment"))]
    problems = " ".join(config_problems(config, root=repo))
    assert "probes ['knn_probe', 'linear_probe', 'linear_probe_tuned', 'majority'] in the semi-supervised experiment exp1_ssl" in problems
    assert "{experiment: exp1_ssl, architecture: [knn_probe, linear_probe, linear_probe_tuned, majority]}" in problems


def test_probe_settings_of_another_type_a_probe_in_the_ood_step_and_a_loss_named_none_are_refused(repo):
    config = _demo_config(repo)
    config["architectures"]["knn_probe"]["protocol"] = "tuned"
    config["architectures"]["majority"]["k"] = 3
    config["ood"]["architectures"] = ["parallel", "linear_probe"]
    config["losses"]["none"] = {"type": "weighted_ce"}
    problems = config_problems(config, root=repo)
    assert "architectures.knn_probe: knn_probe does not take ['protocol'] (it takes: k, weights)" in problems
    assert "architectures.majority: majority does not take ['k'] (it takes: nothing)" in problems
    assert any(p.startswith("ood.architectures[1]: 'linear_probe' is not a trained architecture") for p in problems)
    assert "losses.none: the name 'none' is the loss of probe runs; rename this loss" in problems
