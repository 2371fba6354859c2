"""Encoders as one config axis: named entries with a family, checked before any job; adding an
encoder to a finished study extracts for that encoder only and never segments lesions again."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
from snakemake.utils import validate

from samderm.config import config_problems, load_yaml_strict
from samderm.features.spec import resolve_encoder
from tests.conftest import SNAKEMAKE, copy_workflow, snakemake


@pytest.fixture
def demo_config(repo):
    config = load_yaml_strict(repo / "config/config.yaml")
    validate(config, str(repo / "config/schema.yaml"))
    return config


def _problems(config, **encoders):
    config = copy.deepcopy(config)
    config["encoders"].update(encoders)
    config["matrix"]["encoders"] = list(config["encoders"])
    return "\n".join(config_problems(config))


def test_the_demo_config_has_three_families_and_no_problem(demo_config):
    families = {resolve_encoder(n, e)["family"] for n, e in demo_config["encoders"].items()}
    assert families == {"sam2", "timm", "open_clip"} and config_problems(demo_config) == []


def test_the_old_form_is_a_sam2_size_and_an_unknown_name_shows_the_new_form(demo_config):
    assert resolve_encoder("large", {"checkpoint": "x.pt"}) == {
        "family": "sam2", "size": "large", "checkpoint": "x.pt", "sha256": None, "url": None}
    text = _problems(demo_config, dino={"checkpoint": None})
    assert "encoders.dino: no family" in text and "{family: timm, model: vit_tiny_patch16_224" in text


@pytest.mark.parametrize("entry, message", [
    ({"family": "timm", "model": "vit_small_patch14_dinov2", "model_type": "vit_b"},
     "encoders.new: key(s) ['model_type'] do not belong to family timm"),
    ({"family": "sam", "model_type": "vit_b"},
     "matrix.resolutions[0]: SAM encoder 'new' runs at 1024 px only, not 256 "
     "(add matrix.exclude {encoder: new, resolution: 256})"),
    ({"family": "timm"}, "encoders.new.model: name the timm model"),
    ({"family": "timm", "model": "resnet18", "pretrained": True, "checkpoint": "r.pt"},
     "encoders.new: pretrained: true downloads timm's weights"),
    ({"family": "sam2", "size": "tiny", "layer": 5}, "encoders.new.layer: 5 is not 'neck' or a Hiera trunk stage 1-4"),
    ({"family": "open_clip"}, "encoders.new.model: name the open_clip model"),
    ({"family": "open_clip", "model": "ViT-B-16", "feature": "pooler"},
     "encoders.new.feature: 'pooler' is not one of embedding, pre_projection"),
    ({"family": "open_clip", "model": "ViT-B-16", "layer": 2},
     "encoders.new: key(s) ['layer'] do not belong to family open_clip"),
    ({"family": "transformers"}, "encoders.new: name a hub id or snapshot folder in model"),
    ({"family": "transformers", "model": "suinleelab/monet", "url": "https://example.org/monet.bin"},
     "encoders.new.url: transformers snapshots are not downloaded by samderm; fetch it into the hub cache with "
     "`hf download suinleelab/monet`"),
    ({"family": "transformers", "model": "suinleelab/monet", "sha256": "ab" * 32},
     "encoders.new.sha256: give one digest per weight file"),
    ({"family": "timm", "model": "resnet18", "gated": "yes"}, "encoders.new.gated: true or false, not 'yes'"),
])
def test_bad_encoder_entries_are_named(demo_config, entry, message):
    assert message in _problems(demo_config, new=entry)


def test_lesion_masks_need_a_sam2_segmenter(demo_config):
    demo_config["features"]["crop"]["segmenter"] = "vit_tiny"
    assert "features.crop.segmenter: 'vit_tiny' is a timm encoder" in "\n".join(config_problems(demo_config))


SMALL = """
data: {demo: {image_size: 64, class_counts: {MEL: 4, NV: 6, BCC: 3, AK: 3, BKL: 3, DF: 3, VASC: 3, SCC: 3},
              not_skin: 4, ood: 4}}
features: {crop: {resolution: 64}, num_workers: 0}
matrix: {experiments: [exp1], losses: [wce], architectures: [parallel], crops: [full, lesion],
         encoders: [ENCODERS], resolutions: [64], exclude: []}
"""


def _stores(encoders):
    return [f"results/features/{e}-mean-r64/{c}/images/settings.json" for e in encoders for c in ("full", "lesion")]


def _planned(workdir, overlay, targets):
    proc = subprocess.run([*SNAKEMAKE, *targets, "-n", "--cores", "1", "--quiet", "rules", "--configfile",
                           str(overlay)], cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {m.group(1): int(m.group(2)) for line in proc.stdout.splitlines()
            if (m := re.fullmatch(r"(\w+)\s+(\d+)", line.strip())) and m.group(1) not in ("total", "count")}


def test_adding_an_encoder_extracts_for_it_only_and_reuses_the_lesion_masks(tmp_path):
    work = copy_workflow(tmp_path / "study")
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(SMALL.replace("ENCODERS", "tiny"))
    after.write_text(SMALL.replace("ENCODERS", "tiny, vit_tiny"))
    # the finished study: both tiny stores, with their shared mask pass
    assert _planned(work, before, _stores(["tiny"]))["segment_lesions"] == 1
    snakemake(work, *_stores(["tiny"]), "--cores", "1", "--configfile", str(before), timeout=900)
    assert _planned(work, before, _stores(["tiny"])) == {}

    jobs = _planned(work, after, _stores(["tiny", "vit_tiny"]))
    assert jobs == {"extract_features": 2}, jobs  # vit_tiny full + lesion; no segment_lesions, no tiny store
    # an open_clip encoder likewise: its two stores only, on the masks of the finished pass
    after.write_text(SMALL.replace("ENCODERS", "tiny, clip"))
    assert _planned(work, after, _stores(["tiny", "clip"])) == {"extract_features": 2}
    # the weights' terms are shown, not computed with: stating a licence reruns nothing
    before.write_text(SMALL.replace("ENCODERS", "tiny") + "encoders: {tiny: {family: sam2, size: tiny, checkpoint: null, "
                      "licence: Apache-2.0, gated: false}}\n")
    assert _planned(work, before, _stores(["tiny"])) == {}
