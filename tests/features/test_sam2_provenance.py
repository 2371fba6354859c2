"""The installed sam2 (a third-party upload) is file for file Meta's code at the recorded commit."""

from __future__ import annotations

import shutil

from samderm.features.provenance import installed_root, load_record, provenance_differences


def test_installed_sam2_matches_the_official_commit():
    record = load_record()
    assert len(record["commit"]) == 40 and len(record["files"]) >= 30
    problems = provenance_differences(record, installed_root("sam2"))
    assert problems == [], "installed sam2 differs from the official code:\n" + "\n".join(problems)


def test_a_changed_added_or_removed_file_is_reported(tmp_path):
    record = load_record()
    copy = tmp_path / "site"
    shutil.copytree(installed_root("sam2") / "sam2", copy / "sam2", ignore=shutil.ignore_patterns("__pycache__"))
    assert provenance_differences(record, copy) == []
    encoder = copy / "sam2/modeling/backbones/image_encoder.py"
    encoder.write_text(encoder.read_text() + "\n# changed\n")
    (copy / "sam2/extra.py").write_text("x = 1\n")
    (copy / "sam2/configs/sam2.1/sam2.1_hiera_t.yaml").unlink()
    problems = provenance_differences(record, copy)
    assert len(problems) == 3
    assert any(p.startswith("sam2/modeling/backbones/image_encoder.py: sha256") for p in problems)
    assert any(p.startswith("sam2/extra.py: installed but not in") for p in problems)
    assert any(p.startswith("sam2/configs/sam2.1/sam2.1_hiera_t.yaml: not in the installed") for p in problems)
