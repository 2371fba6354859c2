"""The external-source downloads end to end: the official archives of HAM10000 (+ ISIC 2018 Task 3
validation and test), PAD-UFES-20 and the labelled ISIC 2019 test set, built small as published,
served over loopback HTTP, fetched by ``download_dataset`` and read back by the real readers.

What the archives hold (as published):

* Dataverse doi:10.7910/DVN/DBW86T: ``HAM10000_images_part_{1,2}.zip`` with the .jpg files at their
  top; ``HAM10000_metadata.tab`` (API: the tab-separated archival format, strings quoted;
  ``?format=original``: the uploaded CSV); ``ISIC2018_Task3_Test_Images.zip`` with
  ``ISIC2018_Task3_Test_Images/`` and ``__MACOSX/``; ``ISIC2018_Task3_Test_GroundTruth.tab`` (HAM format).
* ISIC challenge S3 (2018): ``ISIC2018_Task3_{Validation,Test}_Input.zip`` with ``..._Input/`` (+ the
  ATTRIBUTION/LICENSE files); ``..._GroundTruth.zip`` with ``..._GroundTruth/..._GroundTruth.csv`` (one-hot).
* Mendeley zr7vgbcyr2-1.zip: ``metadata.csv`` and ``images/imgs_part_{1,2,3}.zip``, each holding
  ``imgs_part_N/*.png``.
* ISIC challenge S3 (2019): ``ISIC_2019_Test_Input.zip`` with ``ISIC_2019_Test_Input/``; the two CSVs.

Resuming a broken transfer is covered once, for every data set, in test_download.py.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samderm.data.download import EXPECTED_LABELLED, download_dataset
from samderm.data.sources.ham10000 import read_ham10000
from samderm.data.sources.isic2019_test import read_isic2019_test
from samderm.data.sources.pad_ufes20 import read_pad_ufes20

from .public_fixtures import jpeg_bytes, sha256
from .sources.test_ham10000 import META_HEADER as HAM_HEADER
from .sources.test_ham10000 import ONE_HOT_HEADER as HAM_ONE_HOT_HEADER
from .sources.test_ham10000 import one_hot as ham_one_hot
from .sources.test_isic2019_test import GT_HEADER as ISIC_GT_HEADER
from .sources.test_isic2019_test import META_HEADER as ISIC_META_HEADER
from .sources.test_isic2019_test import gt as isic_gt
from .sources.test_pad_ufes20 import HEADER as PAD_HEADER
from .sources.test_pad_ufes20 import row as pad_row



def png_bytes(seed: int, size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def publish(www: Path, path: str, data: bytes | str) -> str:
    """Serve ``data`` at ``/path`` (a query is part of the served name); returns its sha256."""
    file = www / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data.encode() if isinstance(data, str) else data)
    return sha256(file)


def item(server, path: str, digest: str, **extra) -> dict:
    return {"url": f"{server.url}/{path}", "sha256": digest, **extra}


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def tab(csv_line: str) -> str:
    """A CSV row as Dataverse's archival .tab writes it: tab-separated, strings quoted, numbers bare."""
    return "\t".join(v if v.replace(".", "", 1).isdigit() else f'"{v}"' for v in csv_line.split(","))


def assert_every_image_arrived(table, want: dict[str, tuple[str, str]]) -> None:
    """``want``: image id -> (official_split, original_label); each row has its file."""
    got = {r.image_id: (r.official_split, r.original_label) for r in table.itertuples()}
    assert got == want
    assert all(Path(p).is_file() for p in table["path"]), table.loc[table["path"] == "", "image_id"].tolist()


def no_leftovers(root: Path) -> None:
    left = [p for p in root.rglob("*") if p.name.endswith((".zip", ".part")) or p.name.startswith(".unpacking")
            or p.name == "__MACOSX"]
    assert left == []


# --- HAM10000 + ISIC 2018 Task 3 --------------------------------------------------------------------

HAM_TRAIN = {  # image id -> (part, metadata row)
    "ISIC_0027419": (1, "HAM_0000118,ISIC_0027419,bkl,histo,80.0,male,scalp,vidir_modern"),
    "ISIC_0025030": (1, "HAM_0000118,ISIC_0025030,bkl,histo,80.0,male,scalp,vidir_modern"),
    "ISIC_0026769": (2, "HAM_0002730,ISIC_0026769,akiec,histo,,female,face,rosendahl"),
}
HAM_VAL = {"ISIC_0034321": "NV", "ISIC_0034322": "MEL"}
HAM_TEST = {"ISIC_0034524": ("AKIEC", "HAM_0007777,ISIC_0034524,akiec,histo,40.0,female,back,vidir_molemax"),
            "ISIC_0034525": ("VASC", "HAM_0007778,ISIC_0034525,vasc,consensus,35.0,male,trunk,rosendahl")}
ATTRIBUTION = {"ATTRIBUTION.txt": b"ViDIR Group", "LICENSE.txt": b"CC-BY-NC"}


def ham_archives(server, test_from: str) -> dict:
    """The files of data.download.ham10000: HAM10000 from Dataverse, validation from the challenge,
    the test set from the challenge (``test_from="challenge"``) or Dataverse; the config's files."""
    www, files = server.www, {}
    parts = {1: {}, 2: {}}
    for seed, (image, (part, _)) in enumerate(HAM_TRAIN.items()):
        parts[part][f"{image}.jpg"] = jpeg_bytes(seed)
    # as published the .jpg files sit at the zip's top; a re-zipped copy holding its folder works too
    part_2 = {f"HAM10000_images_part_2/{n}": b for n, b in parts[2].items()}
    for part, members in ((1, parts[1]), (2, part_2)):
        file_id = {1: 3172585, 2: 3172584}[part]
        digest = publish(www, f"api/access/datafile/{file_id}", zip_bytes(members))
        files[f"images_part_{part}"] = item(server, f"api/access/datafile/{file_id}", digest,
                                            file=f"HAM10000_images_part_{part}.zip", into=f"HAM10000_images_part_{part}")
    metadata = [HAM_HEADER] + [r for _, r in HAM_TRAIN.values()]
    if test_from == "challenge":  # ?format=original: the uploaded CSV
        digest = publish(www, "api/access/datafile/4338392?format=original", lines(*metadata))
        files["metadata"] = item(server, "api/access/datafile/4338392?format=original", digest,
                                 file="HAM10000_metadata.csv")
    else:  # the API's default: the archival .tab
        digest = publish(www, "api/access/datafile/4338392", lines(metadata[0].replace(",", "\t"), *map(tab, metadata[1:])))
        files["metadata"] = item(server, "api/access/datafile/4338392", digest, file="HAM10000_metadata.tab")

    def challenge(split: str, labels: dict[str, str], seed: int) -> None:
        folder = f"ISIC2018_Task3_{split}_Input"
        images = {f"{folder}/{image}.jpg": jpeg_bytes(seed + i) for i, image in enumerate(labels)}
        images.update({f"{folder}/{n}": b for n, b in ATTRIBUTION.items()})
        gt = f"ISIC2018_Task3_{split}_GroundTruth"
        truth = {f"{gt}/{gt}.csv": lines(HAM_ONE_HOT_HEADER, *(ham_one_hot(i, c) for i, c in labels.items())).encode()}
        truth.update({f"{gt}/{n}": b for n, b in ATTRIBUTION.items()})
        for key, name, members in ((f"{split.lower()}_images", folder, images), (f"{split.lower()}_ground_truth", gt, truth)):
            digest = publish(www, f"2018/{name}.zip", zip_bytes(members))
            files[key] = item(server, f"2018/{name}.zip", digest)

    challenge("Validation", HAM_VAL, 50)
    if test_from == "challenge":
        challenge("Test", {image: cls for image, (cls, _) in HAM_TEST.items()}, 60)
    else:
        images = {f"ISIC2018_Task3_Test_Images/{image}.jpg": jpeg_bytes(60 + i) for i, image in enumerate(HAM_TEST)}
        images.update({f"__MACOSX/ISIC2018_Task3_Test_Images/._{image}.jpg": b"\x00\x05\x16\x07" for image in HAM_TEST})
        digest = publish(www, "api/access/datafile/3855824", zip_bytes(images))
        files["test_images"] = item(server, "api/access/datafile/3855824", digest, file="ISIC2018_Task3_Test_Images.zip")
        truth = lines(HAM_HEADER.replace(",", "\t"), *(tab(r) for _, r in HAM_TEST.values()))
        digest = publish(www, "api/access/datafile/6924466", truth)
        files["test_ground_truth"] = item(server, "api/access/datafile/6924466", digest,
                                          file="ISIC2018_Task3_Test_GroundTruth.tab")
    return files


@pytest.mark.parametrize("test_from", ["challenge", "dataverse"])
def test_ham10000_official_files_become_the_layout_read_ham10000_reads(server, tmp_path, test_from):
    files = ham_archives(server, test_from)
    root = tmp_path / "ham10000"
    download_dataset("ham10000", {"files": files}, root, tmp_path / ".partial" / "ham10000")
    table = read_ham10000(root)
    assert_every_image_arrived(table, {
        **{image: ("train", row.split(",")[2]) for image, (_, row) in HAM_TRAIN.items()},
        **{image: ("val", cls.lower()) for image, cls in HAM_VAL.items()},
        **{image: ("test", cls.lower()) for image, (cls, _) in HAM_TEST.items()}})
    by_id = table.set_index("image_id")
    assert by_id.loc["ISIC_0026769", "path"] == str(root / "HAM10000_images_part_2" / "ISIC_0026769.jpg")  # not nested twice
    assert by_id.loc["ISIC_0025030", "lesion_id"] == by_id.loc["ISIC_0027419", "lesion_id"] == "HAM_0000118"
    assert by_id.loc["ISIC_0026769", "meta_localization"] == "face"
    if test_from == "dataverse":  # the HAM-format test ground truth brings lesion ids and metadata
        assert by_id.loc["ISIC_0034525", ["lesion_id", "meta_dx_type"]].tolist() == ["HAM_0007778", "consensus"]
    no_leftovers(root)
    assert not (tmp_path / ".partial" / "ham10000").exists()


# --- PAD-UFES-20 --------------------------------------------------------------------------------------

PAD_IMAGES = {  # part -> {img_id: (patient, lesion, diagnostic)}
    1: {"PAT_46_881_14.png": ("PAT_46", "881", "BCC"), "PAT_46_881_15.png": ("PAT_46", "881", "BCC")},
    2: {"PAT_8_15_820.png": ("PAT_8", "15", "SCC")},
    3: {"PAT_1516_1765_530.png": ("PAT_1516", "1765", "NEV"), "PAT_771_1489_483.png": ("PAT_771", "1489", "ACK")},
}


def pad_archive(server, top: str) -> dict:
    """zr7vgbcyr2-1.zip: metadata.csv and images/imgs_part_N.zip (each holding imgs_part_N/*.png),
    under ``top`` (an extra top-level folder, or "")."""
    members, rows, seed = {}, [], 0
    for part, images in PAD_IMAGES.items():
        inner = {}
        for image, (patient, lesion, diagnostic) in images.items():
            seed += 1
            inner[f"imgs_part_{part}/{image}"] = png_bytes(seed)
            rows.append(pad_row(patient, lesion, diagnostic, image))
        members[f"{top}images/imgs_part_{part}.zip"] = zip_bytes(inner)
    members[f"{top}metadata.csv"] = lines(PAD_HEADER, *rows).encode()
    digest = publish(server.www, "zr7vgbcyr2-1.zip", zip_bytes(members))
    return {"url": f"{server.url}/zr7vgbcyr2-1.zip", "sha256": digest}


@pytest.mark.parametrize("top", ["", "zr7vgbcyr2-1/"], ids=["as-published", "extra-top-folder"])
def test_pad_ufes20_zip_and_its_inner_zips_become_the_layout_read_pad_ufes20_reads(server, tmp_path, top):
    root = tmp_path / "pad_ufes20"
    download_dataset("pad_ufes20", pad_archive(server, top), root, tmp_path / ".partial" / "pad_ufes20")
    table = read_pad_ufes20(root)
    assert_every_image_arrived(table, {image: ("", diagnostic) for images in PAD_IMAGES.values()
                                       for image, (_, _, diagnostic) in images.items()})
    by_id = table.set_index("image_id")
    assert by_id.loc["PAT_8_15_820.png", "path"] == str(root / "images" / "imgs_part_2" / "PAT_8_15_820.png")
    assert by_id.loc["PAT_46_881_15.png", ["lesion_id", "patient_id"]].tolist() == ["pad_881", "PAT_46"]
    assert sorted(p.name for p in root.iterdir()) == ["images", "metadata.csv"]
    no_leftovers(root)


# --- ISIC 2019 test set, labelled ---------------------------------------------------------------------

ISIC_TEST = {"ISIC_0034321": "MEL", "ISIC_0034322": "UNK", "ISIC_0034323": "SCC", "ISIC_0034330": "NV"}


def isic_test_files(server) -> dict:
    images = {f"ISIC_2019_Test_Input/{image}.jpg": jpeg_bytes(80 + i) for i, image in enumerate(ISIC_TEST)}
    images.update({f"ISIC_2019_Test_Input/{n}": b for n, b in ATTRIBUTION.items()})
    contents = {
        "images": ("ISIC_2019_Test_Input.zip", zip_bytes(images)),
        "ground_truth": ("ISIC_2019_Test_GroundTruth.csv",
                         lines(ISIC_GT_HEADER, *(isic_gt(image, cls) for image, cls in ISIC_TEST.items()))),
        "metadata": ("ISIC_2019_Test_Metadata.csv",
                     lines(ISIC_META_HEADER, *(f"{image},45,anterior torso,female" for image in ISIC_TEST))),
    }
    return {key: item(server, f"2019/{name}", publish(server.www, f"2019/{name}", data))
            for key, (name, data) in contents.items()}


def test_isic2019_test_labelled_download_is_read_by_read_isic2019_test(server, tmp_path):
    root = tmp_path / "isic2019_test"
    download_dataset("isic2019_test", {"files": isic_test_files(server)}, root, tmp_path / ".partial",
                     expected=EXPECTED_LABELLED["isic2019_test"])
    table = read_isic2019_test(root)
    assert_every_image_arrived(table, {image: ("test", cls) for image, cls in ISIC_TEST.items()})
    assert (table["meta_anatom_site_general"] == "anterior torso").all()
    no_leftovers(root)


def test_isic2019_test_unlabeled_pool_needs_only_the_images(server, tmp_path):
    images = {"files": {"images": isic_test_files(server)["images"]}}
    download_dataset("isic2019_test", images, tmp_path / "pool", tmp_path / ".partial")  # unchanged: images only
    assert sorted(p.name for p in (tmp_path / "pool" / "ISIC_2019_Test_Input").glob("*.jpg")) == sorted(
        f"{image}.jpg" for image in ISIC_TEST)
    with pytest.raises(ValueError, match=r"isic2019_test layout lacks \['ISIC_2019_Test_GroundTruth.csv', "
                                         r"'ISIC_2019_Test_Metadata.csv'\]; check data.download.isic2019_test"):
        download_dataset("isic2019_test", images, tmp_path / "labelled", tmp_path / ".partial",
                         expected=EXPECTED_LABELLED["isic2019_test"])


# --- refusals -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ham10000", "pad_ufes20", "isic2019_test"])
def test_a_wrong_sha256_is_refused_naming_the_config_key(server, tmp_path, name):
    if name == "pad_ufes20":
        cfg, key = {"files": {"archive": pad_archive(server, "")}}, "archive"
    else:
        files = ham_archives(server, "challenge") if name == "ham10000" else isic_test_files(server)
        key = next(iter(files))
        cfg = {"files": files}
    cfg["files"][key]["sha256"] = "0" * 64
    partial = tmp_path / ".partial"
    with pytest.raises(ValueError, match=rf"^data\.download\.{name}\.files\.{key}: .* sha256 mismatch: expected 0{{64}}"):
        download_dataset(name, cfg, tmp_path / name, partial)
    assert list(partial.rglob("*")) == [] and list((tmp_path / name).iterdir()) == []  # the first file: nothing kept


def test_a_path_two_archives_fill_differently_is_refused_not_overwritten(server, tmp_path):
    first = publish(server.www, "a.zip", zip_bytes({"images/x.png": png_bytes(1), "metadata.csv": b"a\n"}))
    second = publish(server.www, "b.zip", zip_bytes({"images/x.png": png_bytes(2)}))
    same = publish(server.www, "c.zip", zip_bytes({"images/x.png": png_bytes(1)}))
    root = tmp_path / "pad"
    cfg = {"files": {"a": item(server, "a.zip", first), "c": item(server, "c.zip", same)}}
    download_dataset("pad_ufes20", cfg, root)  # the same bytes twice: kept once
    cfg = {"files": {"b": item(server, "b.zip", second)}}
    with pytest.raises(ValueError, match=r"images/x.png: already there with other content .* refusing to overwrite"):
        download_dataset("pad_ufes20", cfg, root)
    assert (root / "images" / "x.png").read_bytes() == png_bytes(1)


@pytest.mark.parametrize("extra, message", [
    ({"file": "../escape.zip"}, r"files.k.file: '../escape.zip' is not a file name"),
    ({"into": "../out"}, r"files.k.into: '../out' is not a folder inside"),
])
def test_file_and_into_are_checked_before_any_request(server, tmp_path, extra, message):
    cfg = {"files": {"k": {"url": f"{server.url}/x.zip", "sha256": "0" * 64, **extra}}}
    with pytest.raises(ValueError, match=message):
        download_dataset("pad_ufes20", cfg, tmp_path / "pad")
    assert server.requests == []


def test_a_url_without_a_file_name_needs_one(server, tmp_path):
    cfg = {"files": {"a": {"url": f"{server.url}/api/access/datafile/1", "sha256": "0" * 64},
                     "b": {"url": f"{server.url}/other/1", "sha256": "1" * 64}}}
    with pytest.raises(ValueError, match=r"files.b: saved as '1' like data.download.ham10000.files.a; .* \(file\)"):
        download_dataset("ham10000", cfg, tmp_path / "ham")
    assert server.requests == []
