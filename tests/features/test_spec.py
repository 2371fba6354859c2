"""The weights' terms of an encoder entry, and what of an entry extraction depends on."""

from __future__ import annotations

import pytest

from samderm.features.spec import encoder_terms, extraction_entry, random_weights, resolve_encoder


@pytest.mark.parametrize("entry, random", [
    ({"family": "sam2", "size": "tiny"}, True),
    ({"family": "sam2", "size": "tiny", "checkpoint": "t.pt"}, False),
    ({"family": "timm", "model": "vit_tiny_patch16_224", "pretrained": True}, False),
    ({"family": "timm", "model": "vit_tiny_patch16_224"}, True),
    ({"family": "open_clip", "model": "ViT-S-32"}, True),
    ({"family": "open_clip", "model": "hf-hub:redlessone/DermLIP_ViT-B-16"}, False),  # the local hub cache
    ({"family": "transformers", "config": "clip_vision_model"}, True),
    ({"family": "transformers", "model": "suinleelab/monet"}, False),
])
def test_random_weights_is_an_entry_that_loads_nothing(entry, random):
    assert random_weights(resolve_encoder("e", entry)) is random


def test_terms_default_to_not_stated_and_random_weights_carry_none():
    assert encoder_terms("tiny", {"checkpoint": None}) == {"licence": "none (random weights)", "gated": False}
    assert encoder_terms("m", {"family": "transformers", "model": "suinleelab/monet"}) == {
        "licence": "not stated", "gated": False}
    assert encoder_terms("d", {"family": "timm", "model": "vit_large_patch16_dinov3.lvd1689m", "checkpoint": "d.pt",
                               "licence": "DINOv3 License", "gated": True}) == {"licence": "DINOv3 License", "gated": True}


def test_extraction_ignores_the_terms_only():
    entry = {"family": "sam2", "size": "tiny", "layer": 3, "checkpoint": "t.pt", "licence": "Apache-2.0", "gated": False}
    assert extraction_entry(entry) == {"family": "sam2", "size": "tiny", "layer": 3, "checkpoint": "t.pt"}
