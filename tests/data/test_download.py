"""Downloads against a loopback HTTP server serving small archives in the real layouts."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from samderm.data import isic
from samderm.data.download import download_dataset, fetch, unpack
from samderm.data.manifest import build_manifest

from .conftest import LABELS, gt_line, write_image


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base url, folder, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()


def _isic_files(www: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(www / "ISIC_2019_Training_Input.zip", "w") as zf:
        for i in range(3):
            img = write_image(tmp_path / "src" / f"ISIC_000000{i}.jpg", seed=i)
            zf.write(img, f"{isic.IMAGE_FOLDER}/{img.name}")
        zf.writestr(f"{isic.IMAGE_FOLDER}/LICENSE.txt", "CC-BY-NC")
    (www / isic.GROUND_TRUTH).write_text(
        "\n".join(["image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK"] + [gt_line(f"ISIC_000000{i}", "NV") for i in range(3)]) + "\n")
    (www / isic.METADATA).write_text("image,age_approx,anatom_site_general,lesion_id,sex\n"
                                     + "".join(f"ISIC_000000{i},40.0,anterior torso,,female\n" for i in range(3)))


def _places_tar(www: Path, tmp_path: Path) -> None:
    with tarfile.open(www / "val_256.tar", "w") as tf:
        for i in range(1, 3):
            img = write_image(tmp_path / "src" / f"Places365_val_{i:08d}.jpg", seed=50 + i)
            tf.add(img, f"val_256/{img.name}")


def test_isic_and_places_download_unpack_into_layouts_the_manifest_reads(server, tmp_path):
    base, www, _ = server
    _isic_files(www, tmp_path)
    _places_tar(www, tmp_path)
    isic_files = {key: {"url": f"{base}/{name}", "sha256": _sha(www / name)} for key, name in
                  {"images": "ISIC_2019_Training_Input.zip", "ground_truth": isic.GROUND_TRUTH, "metadata": isic.METADATA}.items()}
    download_dataset("isic2019", {"files": isic_files}, tmp_path / "isic2019")
    download_dataset("places365", {"url": f"{base}/val_256.tar", "sha256": _sha(www / "val_256.tar")}, tmp_path / "places365")
    assert (tmp_path / "places365" / "val_256" / "Places365_val_00000002.jpg").is_file()
    assert not list((tmp_path / "isic2019").glob("*.zip")) and not list((tmp_path / "places365").glob(".download-*"))
    write_image(tmp_path / "not_skin" / "t.jpg", seed=9)
    _, counts = build_manifest(**isic.layout(tmp_path / "isic2019"), not_skin_dir=tmp_path / "not_skin",
                               ood_dir=tmp_path / "places365", labels_cfg=LABELS, bad_images="fail")
    assert counts.set_index("source")["used"].to_dict() == {"lesion": 3, "not_skin": 1, "ood": 2}


def test_sha256_mismatch_is_refused_and_nothing_is_left(server, tmp_path):
    base, www, _ = server
    (www / "a.csv").write_text("x\n")
    dest = tmp_path / "out" / "a.csv"
    with pytest.raises(ValueError, match="sha256 mismatch") as err:
        fetch(f"{base}/a.csv", dest, "0" * 64)
    assert "a.csv" in str(err.value)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_present_file_with_right_hash_is_not_fetched_again(server, tmp_path):
    base, www, requests = server
    (www / "a.csv").write_text("x\n")
    dest = tmp_path / "a.csv"
    fetch(f"{base}/a.csv", dest, _sha(www / "a.csv"))
    fetch(f"{base}/a.csv", dest, _sha(www / "a.csv"))
    assert len(requests) == 1 and dest.read_text() == "x\n"


@pytest.mark.parametrize("sha, message", [(None, "sha256 .* is required"), ("abc", "sha256 .* is required")])
def test_missing_sha256_is_refused(server, tmp_path, sha, message):
    base, www, requests = server
    with pytest.raises(ValueError, match=message):
        fetch(f"{base}/a.csv", tmp_path / "a.csv", sha)
    assert requests == []


def test_config_without_sha256_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"data.download.isic2019.files.metadata.sha256: not set"):
        download_dataset("isic2019", {"files": {"metadata": {"url": "http://127.0.0.1:1/m.csv", "sha256": None}}}, tmp_path)
    with pytest.raises(ValueError, match=r"data.download.places365: no url"):
        download_dataset("places365", {}, tmp_path)


def test_wrong_layout_is_reported(server, tmp_path):
    base, www, _ = server
    with tarfile.open(www / "other.tar", "w") as tf:
        data = b"hello"
        info = tarfile.TarInfo("other/readme.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match=r"lacks \['val_256'\]"):
        download_dataset("places365", {"url": f"{base}/other.tar", "sha256": _sha(www / "other.tar")}, tmp_path / "p")


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
