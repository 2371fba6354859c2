"""The report's introduction (report/workflow.rst) names each encoder with its own family and lists the
random-weight encoders readably, rendered as Snakemake renders it: Jinja over the config, then docutils."""

import html
import re
from types import SimpleNamespace

import jinja2
from docutils.core import publish_parts

from samderm.config import load_yaml_strict


def render_intro(repo, config: dict) -> str:
    template = jinja2.Template((repo / "report" / "workflow.rst").read_text())
    rst = template.render(snakemake=SimpleNamespace(config=config))
    body = publish_parts(rst, writer="html")["body"]
    return html.unescape(re.sub(r"<[^>]+>", "", body))  # the text a reader sees


def demo_config(repo) -> dict:
    return load_yaml_strict(repo / "config" / "config.yaml")


def test_each_encoder_is_named_with_its_family(repo):
    text = render_intro(repo, demo_config(repo))
    assert "(tiny: SAM2.1 Hiera tiny (weights' licence: none, random weights), " in text, text
    assert " vit_tiny: timm vit_tiny_patch16_224 (weights' licence: none, random weights), " in text, text
    assert " clip: open_clip ViT-S-32 (weights' licence: none, random weights);" in text, text
    assert "SAM2.1 Hiera encoder" not in text  # the old text called every encoder a SAM2 encoder


def test_random_weight_warning_lists_the_encoders_apart(repo):
    text = render_intro(repo, demo_config(repo))
    assert "random encoder weights. tiny, vit_tiny, clip have no checkpoint" in text, text
    assert "``" not in text


def test_one_random_encoder_reads_has(repo):
    config = demo_config(repo)
    config["encoders"]["tiny"] = {**config["encoders"]["tiny"], "checkpoint": "results/checkpoints/t.pt"}
    config["encoders"]["sam_b"] = {"family": "sam", "model_type": "vit_b", "checkpoint": None}
    config["encoders"]["monet"] = {"family": "transformers", "model": "suinleelab/monet"}
    config["encoders"]["dermlip"] = {"family": "open_clip", "model": "hf-hub:redlessone/DermLIP_ViT-B-16"}
    config["encoders"]["stage3"] = {"family": "sam2", "size": "tiny", "layer": 3, "checkpoint": "t.pt",
                                    "licence": "Apache-2.0"}
    config["encoders"]["dinov3"] = {"family": "timm", "model": "vit_large_patch16_dinov3.lvd1689m",
                                    "checkpoint": "d.pt", "licence": "DINOv3 License", "gated": True}
    config["matrix"]["encoders"] = ["tiny", "vit_tiny", "sam_b", "monet", "dermlip", "stage3", "dinov3"]
    text = render_intro(repo, config)
    assert "sam_b: segment-anything SAM vit_b (weights' licence: none, random weights)," in text, text
    assert "monet: transformers suinleelab/monet (weights' licence: not stated)," in text, text
    assert "stage3: SAM2.1 Hiera tiny trunk stage 3 (weights' licence: Apache-2.0)," in text, text
    assert "dinov3: timm vit_large_patch16_dinov3.lvd1689m (weights' licence: DINOv3 License, gated);" in text, text
    # hub-cache weights are weights: only the two encoders without any are called random
    assert "random encoder weights. vit_tiny, sam_b have no checkpoint" in text, text
