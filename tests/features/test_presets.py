"""The encoder presets the config comments and the README name exist in the installed libraries."""

from __future__ import annotations

import re
from pathlib import Path

import open_clip
import pytest
import timm
import yaml

REPO = Path(__file__).resolve().parents[2]


def _commented_entries() -> dict[str, dict]:
    """The encoders the demo config shows as comments (`#  name: {family: ...}`), parsed as YAML."""
    text = (REPO / "config/config.yaml").read_text()
    lines = re.findall(r"^  # (\w+: \{family: .*\})", text, flags=re.M)
    assert len(lines) >= 8, lines
    entries = {}
    for line in lines:
        entries.update(yaml.safe_load(re.sub(r"sha256: \.\.\.", "sha256: null", line.split("   #")[0])))
    return entries


def test_timm_presets_are_timm_weight_tags():
    entries = _commented_entries()
    timm_models = [e["model"] for e in entries.values() if e["family"] == "timm"]
    readme = re.findall(r"`((?:vit|sam2)_\w+\.\w+)`", (REPO / "README.md").read_text())
    assert {"vit_large_patch16_dinov3.lvd1689m", "sam2_hiera_tiny.fb_r896"} <= set(timm_models + readme)
    for name in set(timm_models + readme):
        assert timm.list_pretrained(name) == [name], f"{name}: not a timm model with this weight tag"


def test_open_clip_presets_are_open_clip_models_or_hub_ids():
    entries = _commented_entries()
    names = [e["model"] for e in entries.values() if e["family"] == "open_clip"]
    assert any(n.startswith("hf-hub:") for n in names)
    for name in names:
        assert name.startswith("hf-hub:") or name in open_clip.list_models(), name


@pytest.mark.parametrize("family", ["sam2", "timm", "open_clip", "transformers"])
def test_every_preset_family_has_a_commented_entry_with_a_licence(family):
    entries = [e for e in _commented_entries().values() if e["family"] == family]
    assert entries and all(e.get("licence") for e in entries)
