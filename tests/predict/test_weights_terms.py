"""The bundle carries each encoder's licence from the study's config (older bundles say they did not), and
hands a transformers snapshot folder to its family, which checks each weight file."""

from __future__ import annotations

import json

from samderm.predict.bundle import BUNDLE_FILE, weights_terms


def test_weights_terms_name_the_licence_and_gating_of_every_encoder(tmp_path):
    (tmp_path / BUNDLE_FILE).write_text(json.dumps({"feature_sets": {
        "dinov3-mean-r224/full": {"encoder": "dinov3", "licence": "DINOv3 License", "gated": True},
        "tiny-mean-r256/full": {"encoder": "tiny", "licence": "Apache-2.0", "gated": False},
        "old-mean-r256/full": {"encoder": "old"}}}))
    assert weights_terms(tmp_path) == {"dinov3": "DINOv3 License, gated", "tiny": "Apache-2.0",
                                       "old": "not recorded (bundle written before licences were)"}


def test_a_transformers_snapshot_folder_is_checked_by_its_family_not_as_a_file(tmp_path):
    from samderm.predict.bundle import checked_encoder

    snapshot = tmp_path / "monet"
    snapshot.mkdir()
    cfg = {"family": "transformers", "model": "suinleelab/monet", "checkpoint": str(snapshot),
           "sha256": {"model.safetensors": "ab" * 32}}
    entry = {"encoder": "monet", "encoder_config": cfg, "checkpoint_sha256": "cd" * 32, "random_weights": False}
    assert checked_encoder(entry, tmp_path, {}) == cfg  # the per-file digests travel with it
