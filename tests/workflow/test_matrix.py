"""The experiment matrix: combinations, exclusions, and the feature stores each run reads."""

from __future__ import annotations

import copy

import pytest
from snakemake.utils import validate

from samderm.config import load_yaml_strict
from samderm.matrix import expand_matrix, feature_stores


@pytest.fixture
def config(repo):
    cfg = load_yaml_strict(repo / "config/config.yaml")
    validate(cfg, str(repo / "config/schema.yaml"))
    return cfg


def test_every_combination_once(config):
    m = config["matrix"]
    m["exclude"] = []  # the demo restricts its second encoder; here every combination counts
    runs = expand_matrix(config)
    expected = 1
    for axis in ("experiments", "losses", "architectures", "crops", "encoders", "resolutions", "seeds"):
        expected *= len(m[axis])
    assert len(runs) == expected == len(set(runs))
    assert len({r.path for r in runs}) == expected


def test_the_demo_runs_its_second_encoder_on_one_loss_full_crops_and_exp1_only(config):
    second = [r for r in expand_matrix(config) if r.encoder == "vit_tiny"]
    assert {(r.experiment, r.loss, r.crop) for r in second} == {("exp1", "wce", "full")}
    assert sorted(r.architecture for r in second) == ["ensemble", "multihead", "parallel"]
    assert {d for r in second for d in feature_stores(config, r)} == {"vit_tiny-mean-r256/full/images"}


def test_exclude_patterns_drop_only_matching_runs(config):
    config = copy.deepcopy(config)
    before = expand_matrix(config)
    config["matrix"]["exclude"] = [{"loss": "focal", "architecture": ["multihead", "ensemble"]}]
    after = expand_matrix(config)
    dropped = set(before) - set(after)
    assert dropped and all(r.loss == "focal" and r.architecture in ("multihead", "ensemble") for r in dropped)
    assert any(r.loss == "focal" and r.architecture == "parallel" for r in after)


def test_runs_read_augmented_stores_only_when_their_balancing_augments(config):
    runs = expand_matrix(config)
    original = next(r for r in runs if config["experiments"][r.experiment]["balancing"] == "original")
    smart = next(r for r in runs if config["experiments"][r.experiment]["balancing"] == "smart")
    assert feature_stores(config, original) == [f"{original.feature_set}/{original.crop}/images"]
    assert feature_stores(config, smart) == [
        f"{smart.feature_set}/{smart.crop}/images",
        f"{smart.feature_set}/{smart.crop}/aug-smart",
    ]


def test_feature_stores_do_not_depend_on_loss_or_architecture(config):
    runs = expand_matrix(config)
    stores = {d for r in runs for d in feature_stores(config, r)}
    few = copy.deepcopy(config)
    few["matrix"]["losses"] = few["matrix"]["losses"][:1]
    few["matrix"]["architectures"] = ["parallel"]
    assert {d for r in expand_matrix(few) for d in feature_stores(few, r)} == stores
