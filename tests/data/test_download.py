"""Downloads against a loopback HTTP server serving small archives in the official layouts."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile

import pytest

from samderm.data import isic
from samderm.data.download import checksum_problem, download_dataset, fetch, unpack
from samderm.data.manifest import build_manifest
from samderm.data.public_sets import select_images

from .conftest import LABELS
from .public_fixtures import (DTD_TEXTURES, dtd_archive, isic_archives, md5, places365_archives,
                              sha256)



def test_public_sets_download_into_official_layouts_and_fill_the_manifest(server, tmp_path):
    www, base = server.www, server.url
    isic_sums, places_sums, dtd_md5 = isic_archives(www), places365_archives(www), dtd_archive(www)
    files = {key: {"url": f"{base}/{name}", "sha256": isic_sums[name]} for key, name in
             {"images": "ISIC_2019_Training_Input.zip", "ground_truth": isic.GROUND_TRUTH, "metadata": isic.METADATA}.items()}
    raw = tmp_path / "downloads"
    download_dataset("isic2019", {"files": files}, tmp_path / "isic2019", raw / ".partial" / "isic2019")
    download_dataset("places365", {"files": {k: {"url": f"{base}/{n}", "md5": s} for k, n, s in
                                             [("images", "val_256.tar", places_sums["val_256.tar"]),
                                              ("filelist", "filelist_places365-standard.tar",
                                               places_sums["filelist_places365-standard.tar"])]}},
                     raw / "places365", raw / ".partial" / "places365")
    download_dataset("dtd", {"url": f"{base}/dtd-r1.0.1.tar.gz", "md5": dtd_md5}, raw / "dtd", raw / ".partial" / "dtd")
    assert (raw / "places365" / "val_256" / "Places365_val_00000002.jpg").is_file()
    assert (raw / "places365" / "categories_places365.txt").is_file()
    assert (raw / "dtd" / "dtd" / "images" / "banded" / "banded_0001.jpg").is_file()
    assert not list((tmp_path / "isic2019").glob("*.zip")) and not (raw / ".partial" / "places365").exists()

    dirs = {"places365": raw / "places365", "dtd": raw / "dtd"}
    not_skin_sets = {"places365": {"categories": ["kitchen", "/b/bazaar/indoor"], "limit": 2}}
    ood_sets = {"places365": {"categories": "all", "limit": 1}, "dtd": {"categories": "all", "limit": 2}}
    ns = select_images(not_skin_sets, ood_sets, dirs, tmp_path / "not_skin", seed=0, key="data.public.not_skin")
    ood = select_images(ood_sets, not_skin_sets, dirs, tmp_path / "ood", seed=0, key="data.public.ood")
    assert ns == {"kitchen": 2, "bazaar_indoor": 2}
    # 'all' leaves out what not-skin lists: airfield, bazaar_outdoor, canyon, and every texture
    assert ood == {"airfield": 1, "bazaar_outdoor": 1, "canyon": 1, **{t: 2 for t in DTD_TEXTURES}}
    assert sorted(p.parent.name for p in (tmp_path / "ood").glob("*/*.jpg")) == sorted(
        ["airfield", "bazaar_outdoor", "canyon"] + [t for t in DTD_TEXTURES for _ in range(2)])
    _, counts = build_manifest(**isic.layout(tmp_path / "isic2019"), not_skin_dir=tmp_path / "not_skin",
                               ood_dir=tmp_path / "ood", labels_cfg=LABELS, bad_images="fail")
    assert counts.set_index("source")["used"].to_dict() == {"lesion": 6, "not_skin": 4, "ood": 9}


def test_the_draw_is_seeded_and_limited_per_category(server, tmp_path):
    places365_archives(server.www, per_category=6)
    unpack(server.www / "val_256.tar", tmp_path / "p")
    unpack(server.www / "filelist_places365-standard.tar", tmp_path / "p")

    def pick(seed, out):
        select_images({"places365": {"categories": ["canyon"], "limit": 3}}, {}, {"places365": tmp_path / "p"},
                      tmp_path / out, seed, "data.public.ood")
        return sorted(p.name for p in (tmp_path / out / "canyon").glob("*.jpg"))

    first, again, other = pick(0, "a"), pick(0, "b"), pick(1, "c")
    assert len(first) == 3 and first == again and first != other


def test_an_interrupted_transfer_resumes_from_its_partial_file(server, tmp_path):
    data = bytes(range(256)) * 40  # 10 kB
    (server.www / "big.bin").write_bytes(data)
    dest = tmp_path / "out" / "big.bin"
    server.break_after["/big.bin"] = 3000
    with pytest.raises(OSError, match=r"ended after 3000 of 10240 bytes; .*big.bin.part is kept"):
        fetch(f"{server.url}/big.bin", dest, sha256(server.www / "big.bin"))
    assert (tmp_path / "out" / "big.bin.part").stat().st_size == 3000 and not dest.exists()
    fetch(f"{server.url}/big.bin", dest, sha256(server.www / "big.bin"))
    assert dest.read_bytes() == data and not (tmp_path / "out" / "big.bin.part").exists()
    assert server.requests == [("/big.bin", None), ("/big.bin", "bytes=3000-")]


def test_a_server_without_ranges_restarts_the_download(server, tmp_path):
    data = bytes(range(256)) * 40
    (server.www / "big.bin").write_bytes(data)
    (tmp_path / "big.bin.part").write_bytes(b"garbage that is not the start of the file")
    server.ranges = False
    fetch(f"{server.url}/big.bin", tmp_path / "big.bin", sha256(server.www / "big.bin"))
    assert (tmp_path / "big.bin").read_bytes() == data


def test_a_complete_partial_file_is_finished_without_downloading(server, tmp_path):
    (server.www / "a.csv").write_text("x\n")
    (tmp_path / "a.csv.part").write_text("x\n")
    fetch(f"{server.url}/a.csv", tmp_path / "a.csv", sha256(server.www / "a.csv"))
    assert (tmp_path / "a.csv").read_text() == "x\n" and server.requests == [("/a.csv", "bytes=2-")]


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_checksum_mismatch_is_refused_and_nothing_is_left(server, tmp_path, algorithm):
    (server.www / "a.csv").write_text("x\n")
    dest = tmp_path / "out" / "a.csv"
    wrong = "0" * (64 if algorithm == "sha256" else 32)
    with pytest.raises(ValueError, match=f"{algorithm} mismatch") as err:
        fetch(f"{server.url}/a.csv", dest, **{algorithm: wrong})
    assert "a.csv" in str(err.value)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_md5_is_accepted_where_the_publisher_gives_only_md5(server, tmp_path):
    (server.www / "a.csv").write_text("x\n")
    fetch(f"{server.url}/a.csv", tmp_path / "a.csv", md5=md5(server.www / "a.csv"))
    assert (tmp_path / "a.csv").read_text() == "x\n"


def test_present_file_with_right_hash_is_not_fetched_again(server, tmp_path):
    (server.www / "a.csv").write_text("x\n")
    dest = tmp_path / "a.csv"
    fetch(f"{server.url}/a.csv", dest, sha256(server.www / "a.csv"))
    fetch(f"{server.url}/a.csv", dest, sha256(server.www / "a.csv"))
    assert len(server.requests) == 1 and dest.read_text() == "x\n"


@pytest.mark.parametrize("item, message", [
    ({}, r"k.sha256: missing"),
    ({"sha256": "abc"}, r"k.sha256: 'abc' is not a sha256"),
    ({"sha256": "e27b17d8d44f4af9a78502beb927f808"}, r"k.sha256: .* is an md5 .* write it as k.md5"),
    ({"md5": "xyz"}, r"k.md5: 'xyz' is not an md5"),
])
def test_missing_or_malformed_checksum_is_refused_before_any_request(server, tmp_path, item, message):
    assert re.match(message, checksum_problem(item, "k"))
    with pytest.raises(ValueError, match=r"a sha256 .* is required to download it"):
        fetch(f"{server.url}/a.csv", tmp_path / "a.csv", item.get("sha256"), md5=item.get("md5"))
    with pytest.raises(ValueError, match=message.replace("k.", "data.download.dtd.")):
        download_dataset("dtd", {"url": f"{server.url}/a.csv", **item}, tmp_path / "dtd")
    assert server.requests == []


def test_config_without_sha256_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"data.download.isic2019.files.metadata.sha256: missing"):
        download_dataset("isic2019", {"files": {"metadata": {"url": "http://127.0.0.1:1/m.csv", "sha256": None}}}, tmp_path)
    with pytest.raises(ValueError, match=r"data.download.places365: no url"):
        download_dataset("places365", {}, tmp_path)


def test_wrong_layout_is_reported(server, tmp_path):
    with tarfile.open(server.www / "other.tar", "w") as tf:
        data = b"hello"
        info = tarfile.TarInfo("other/readme.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match=r"lacks \['val_256'"):
        download_dataset("places365", {"url": f"{server.url}/other.tar", "sha256": sha256(server.www / "other.tar")}, tmp_path / "p")


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archive_members_outside_the_folder_are_refused(tmp_path, kind):
    archive = tmp_path / f"evil.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("../escaped.txt", "x")
    else:
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo("../escaped.txt")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside|unsafe"):
        unpack(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()
