"""Small public data sets in their official layouts, and a loopback HTTP server that resumes (Range)
and can break a transfer, for the download tests and the real-config dry runs.

Places365-Standard: val_256.tar holds flat ``val_256/Places365_val_%08d.jpg``;
filelist_places365-standard.tar holds ``categories_places365.txt`` (``/a/airfield 0``) and
``places365_val.txt`` (``Places365_val_00000001.jpg 165``) at its root.
DTD: dtd-r1.0.1.tar.gz holds ``dtd/images/{texture}/{texture}_%04d.jpg`` and ``dtd/labels/``."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

PLACES_CATEGORIES = ["/a/airfield", "/b/bazaar/indoor", "/b/bazaar/outdoor", "/c/canyon", "/k/kitchen"]
DTD_TEXTURES = ["banded", "cracked", "woven"]


def jpeg_bytes(seed: int, size: int = 16) -> bytes:
    pixels = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def places365_archives(www: Path, per_category: int = 3) -> dict[str, str]:
    """val_256.tar and filelist_places365-standard.tar; returns {file name: md5}."""
    lines, number = [], 0
    with tarfile.open(www / "val_256.tar", "w") as tf:
        for index, _ in enumerate(PLACES_CATEGORIES):
            for _ in range(per_category):
                number += 1
                name = f"Places365_val_{number:08d}.jpg"
                _add(tf, f"val_256/{name}", jpeg_bytes(1000 + number))
                lines.append(f"{name} {index}")
    with tarfile.open(www / "filelist_places365-standard.tar", "w") as tf:
        _add(tf, "categories_places365.txt", "".join(f"{c} {i}\n" for i, c in enumerate(PLACES_CATEGORIES)).encode())
        _add(tf, "places365_val.txt", ("\n".join(lines) + "\n").encode())
        _add(tf, "places365_train_standard.txt", b"/a/airfield/00000001.jpg 0\n")
    return {n: md5(www / n) for n in ("val_256.tar", "filelist_places365-standard.tar")}


def dtd_archive(www: Path, per_texture: int = 3) -> str:
    """dtd-r1.0.1.tar.gz; returns its md5."""
    with tarfile.open(www / "dtd-r1.0.1.tar.gz", "w:gz") as tf:
        for t, texture in enumerate(DTD_TEXTURES):
            for k in range(1, per_texture + 1):
                _add(tf, f"dtd/images/{texture}/{texture}_{k:04d}.jpg", jpeg_bytes(2000 + 100 * t + k))
        _add(tf, "dtd/labels/train1.txt", "".join(f"{t}/{t}_0001.jpg\n" for t in DTD_TEXTURES).encode())
    return md5(www / "dtd-r1.0.1.tar.gz")


def isic_archives(www: Path, n: int = 6) -> dict[str, str]:
    """The ISIC 2019 zip and CSVs; returns {file name: sha256}."""
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    with zipfile.ZipFile(www / "ISIC_2019_Training_Input.zip", "w") as zf:
        for i in range(n):
            zf.writestr(f"ISIC_2019_Training_Input/ISIC_{i:07d}.jpg", jpeg_bytes(i))
        zf.writestr("ISIC_2019_Training_Input/LICENSE.txt", "CC-BY-NC")
    gt = ["image," + ",".join(classes)] + [f"ISIC_{i:07d}," + ",".join("1.0" if c == "NV" else "0.0" for c in classes) for i in range(n)]
    (www / "ISIC_2019_Training_GroundTruth.csv").write_text("\n".join(gt) + "\n")
    (www / "ISIC_2019_Training_Metadata.csv").write_text(
        "image,age_approx,anatom_site_general,lesion_id,sex\n" + "".join(f"ISIC_{i:07d},40.0,anterior torso,,female\n" for i in range(n)))
    names = ("ISIC_2019_Training_Input.zip", "ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv")
    return {name: sha256(www / name) for name in names}


def isic_test_archive(www: Path, n: int = 4) -> str:
    """ISIC_2019_Test_Input.zip (the unlabeled pool: images and a licence file); returns its sha256."""
    with zipfile.ZipFile(www / "ISIC_2019_Test_Input.zip", "w") as zf:
        for i in range(n):
            zf.writestr(f"ISIC_2019_Test_Input/ISIC_{900 + i:07d}.jpg", jpeg_bytes(100 + i))
        zf.writestr("ISIC_2019_Test_Input/LICENSE.txt", "CC-BY-NC")
    return sha256(www / "ISIC_2019_Test_Input.zip")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class LoopbackServer:
    """Serves ``www`` on 127.0.0.1 with HTTP Range. ``break_after[path] = n`` sends only n bytes of
    that file's next response and drops the connection; ``ranges = False`` ignores Range headers."""

    def __init__(self, www: Path):
        self.www, self.requests, self.break_after, self.ranges = www, [], {}, True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                file = server.www / self.path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1]) if rng and server.ranges else 0
                if start >= len(data) and start:
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                cut = server.break_after.pop(self.path, None)
                self.wfile.write(data[start:] if cut is None else data[start:start + cut])
                if cut is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
