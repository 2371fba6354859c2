"""config/isic2019.yaml, the real study on public data: it stops before any job while a checksum is
missing; filled in, with the public sets served over loopback in their official layouts, its downloads
are local jobs and the manifest holds the configured number of not-skin and OOD images."""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap

import pytest

from samderm.io import read_tsv
from tests.conftest import SNAKEMAKE, copy_workflow, snakemake
from tests.data.public_fixtures import LoopbackServer, dtd_archive, isic_archives, isic_test_archive, places365_archives

REAL = ["--configfile", "config/isic2019.yaml"]
DOWNLOAD_RULES = {"download_isic2019", "download_isic2019_test", "download_places365", "download_dtd", "download_checkpoint"}
# which rules run where snakemake runs (workflow.is_local needs a non-local executor, so ask the rule set)
LOCAL_RULES = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(), snakefile=Path("Snakefile"),
                                config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[1:]]))._workflow
        print(json.dumps(sorted(r.name for r in workflow.rules if r.group is None and r.name in workflow._localrules)))
""")


def test_the_shipped_real_config_names_every_missing_checksum_before_any_job(tmp_path):
    work = copy_workflow(tmp_path)
    proc = subprocess.run([*SNAKEMAKE, "-n", "--cores", "1", *REAL], cwd=work, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Job stats" not in output
    problems = [line.strip() for line in output.split("\n") if line.strip().startswith("- ")]
    assert problems == [
        "- encoders.tiny.sha256: missing (a download is kept only if it matches: give the sha256sum of the file you trust)",
        "- encoders.base_plus.sha256: missing (a download is kept only if it matches: give the sha256sum of the file you trust)",
        *(f"- data.download.isic2019.files.{key}.sha256: missing (a download is kept only if it matches: "
          "give the sha256sum of the file you trust)" for key in ("images", "ground_truth", "metadata")),
        "- data.download.isic2019_test.files.images.sha256: missing (a download is kept only if it matches: give the "
        "sha256sum of the file you trust)",
        # the external test sources' files (data.sources: HAM10000's test split, PAD-UFES-20)
        *(f"- data.download.ham10000.files.{key}.sha256: missing (a download is kept only if it matches: "
          "give the sha256sum of the file you trust)" for key in (
              "images_part_1", "images_part_2", "metadata", "val_images", "val_ground_truth", "test_images",
              "test_ground_truth")),
        "- data.download.pad_ufes20.sha256: missing (a download is kept only if it matches: give the sha256sum of "
        "the file you trust)",
    ], output[-3000:]  # Places365 and DTD pass on their publishers' md5


@pytest.fixture(scope="module")
def public_study(tmp_path_factory):
    """A copy of the workflow and an overlay that points config/isic2019.yaml at a loopback server."""
    work = copy_workflow(tmp_path_factory.mktemp("real"))
    www = tmp_path_factory.mktemp("www")
    isic, places, dtd_md5 = isic_archives(www), places365_archives(www), dtd_archive(www)
    isic_test = isic_test_archive(www)
    (www / "sam2.1_hiera_tiny.pt").write_bytes(b"not a real checkpoint")
    with LoopbackServer(www) as server:
        base = server.url
        overlay = {
            "data": {
                "public": {"not_skin": {"places365": {"categories": ["kitchen", "bazaar/indoor"], "limit": 2}},
                           "ood": {"places365": {"categories": "all", "limit": 1}, "dtd": {"categories": "all", "limit": 2}}},
                "download": {
                    "isic2019": {"files": {key: {"url": f"{base}/{name}", "sha256": isic[name]} for key, name in (
                        ("images", "ISIC_2019_Training_Input.zip"), ("ground_truth", "ISIC_2019_Training_GroundTruth.csv"),
                        ("metadata", "ISIC_2019_Training_Metadata.csv"))}},
                    "places365": {"files": {"images": {"url": f"{base}/val_256.tar", "md5": places["val_256.tar"]},
                                            "filelist": {"url": f"{base}/filelist_places365-standard.tar",
                                                         "md5": places["filelist_places365-standard.tar"]}}},
                    "dtd": {"url": f"{base}/dtd-r1.0.1.tar.gz", "md5": dtd_md5},
                    "isic2019_test": {"files": {"images": {"url": f"{base}/ISIC_2019_Test_Input.zip", "sha256": isic_test}}},
                },
                # the external test sources have their own loopback test (tests/data/test_download_sources.py)
                "sources": {"ham10000_test": None, "pad_ufes20": None},
            },
            "evaluation": {"external": []},
            "ood": {"shift": []},
            "encoders": {"tiny": {"url": f"{base}/sam2.1_hiera_tiny.pt",
                                  "sha256": hashlib.sha256(b"not a real checkpoint").hexdigest()}},
            "matrix": {"experiments": ["exp1"], "losses": ["wce"], "architectures": ["parallel"], "crops": ["full"],
                       "encoders": ["tiny"], "resolutions": [512], "seeds": [0]},
        }
        (work / "loopback.yaml").write_text(json.dumps(overlay))  # JSON is YAML
        yield work, server


def _local_rules(work, *configfiles):
    proc = subprocess.run([*SNAKEMAKE[:1], "-c", LOCAL_RULES, *configfiles], cwd=work, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().split("\n")[-1]))


def test_downloads_are_local_jobs_unless_the_config_sends_them_to_the_cluster(public_study, tmp_path):
    work, _ = public_study
    planned = snakemake(work, "results/data/manifest.tsv", "-n", "--cores", "1", *REAL, "loopback.yaml").stdout
    for rule in DOWNLOAD_RULES - {"download_checkpoint"} | {"draw_not_skin_images", "draw_ood_images"}:
        assert f"rule {rule}:" in planned
    assert DOWNLOAD_RULES <= _local_rules(work, "config/isic2019.yaml", "loopback.yaml")
    (tmp_path / "cluster.yaml").write_text("data: {download: {local: false}}\n")
    assert not DOWNLOAD_RULES & _local_rules(work, "config/isic2019.yaml", "loopback.yaml", str(tmp_path / "cluster.yaml"))


def test_public_sources_fill_the_manifest_with_the_configured_numbers(public_study):
    work, server = public_study
    snakemake(work, "results/data/manifest.tsv", "--cores", "1", *REAL, "loopback.yaml")
    counts = read_tsv(work / "results/data/counts.tsv").set_index("source")
    # not-skin: 2 scenes x 2; OOD: the 3 other scenes x 1 + 3 textures x 2
    assert counts["used"].astype(int).to_dict() == {"lesion": 6, "not_skin": 4, "ood": 9, "unlabeled": 4}
    manifest = read_tsv(work / "results/data/manifest.tsv")
    ood = manifest[manifest["source"] == "ood"]
    assert sorted({p.split("/")[2] for p in ood["path"]}) == ["airfield", "banded", "bazaar_outdoor", "canyon",
                                                              "cracked", "woven"]
    assert (manifest["group_id"] != "").all() and (work / "results/data/near_duplicates.tsv").is_file()
    unlabeled = manifest[manifest["source"] == "unlabeled"]  # the ISIC 2019 test images, unpacked into data.unlabeled_dir
    assert sorted(unlabeled["image_id"]) == [f"unlabeled__ISIC_2019_Test_Input__ISIC_{900 + i:07d}" for i in range(4)]
    assert not (work / "data/downloads/.partial/places365").exists()
