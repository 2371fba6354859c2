"""The experiment matrix: combinations, exclusions, and the feature stores each run reads."""

from __future__ import annotations

import copy

import pytest
from snakemake.utils import validate

from samderm.config import load_yaml_strict
from samderm.matrix import NO_LOSS, PROBE_TYPES, expand_matrix, feature_stores, ood_runs


@pytest.fixture
def config(repo):
    cfg = load_yaml_strict(repo / "config/config.yaml")
    validate(cfg, str(repo / "config/schema.yaml"))
    return cfg


def test_every_combination_once(config):
    m = config["matrix"]
    m["exclude"] = []  # the demo restricts its second encoder; here every combination counts
    runs = expand_matrix(config)
    others = 1
    for axis in ("experiments", "crops", "encoders", "resolutions", "seeds"):
        others *= len(m[axis])
    probes = [a for a in m["architectures"] if config["architectures"][a]["type"] in PROBE_TYPES]
    assert probes, "the demo config runs probes"
    # MLPs and ensembles once per loss, each probe once (loss 'none')
    expected = others * (len(m["losses"]) * (len(m["architectures"]) - len(probes)) + len(probes))
    assert len(runs) == expected == len(set(runs))
    assert len({r.path for r in runs}) == expected
    assert {r.loss for r in runs if r.architecture in probes} == {NO_LOSS}
    assert NO_LOSS not in {r.loss for r in runs if r.architecture not in probes}


def test_probes_add_runs_but_no_feature_store(config):
    without = copy.deepcopy(config)
    probes = [a for a in config["matrix"]["architectures"] if config["architectures"][a]["type"] in PROBE_TYPES]
    without["matrix"]["architectures"] = [a for a in config["matrix"]["architectures"] if a not in probes]
    with_probes, mlp_only = expand_matrix(config), expand_matrix(without)
    # the demo: 4 probes x 2 encoders on exp1's full images, the published probe on exp1_lf25's (tiny) and clip's
    assert len(with_probes) == len(mlp_only) + 8 + 1 + 1
    stores = {d for r in with_probes for d in feature_stores(config, r)}
    assert stores == {d for r in mlp_only for d in feature_stores(without, r)}


def test_an_exclude_pattern_naming_a_loss_leaves_probes_alone(config):
    config = copy.deepcopy(config)
    config["matrix"]["exclude"] = [{"loss": "wce"}]
    runs = expand_matrix(config)
    assert not any(r.loss == "wce" for r in runs)
    assert any(r.architecture == "majority" for r in runs)
    config["matrix"]["exclude"] = [{"loss": NO_LOSS}]
    assert not any(r.architecture == "majority" for r in expand_matrix(config))


def test_the_demo_runs_its_second_encoder_on_one_loss_full_crops_and_exp1_only(config):
    second = [r for r in expand_matrix(config) if r.encoder == "vit_tiny"]
    assert {(r.experiment, r.crop) for r in second} == {("exp1", "full")}
    assert sorted(r.architecture for r in second if r.loss == "wce") == ["ensemble", "multihead", "parallel"]
    assert sorted(r.architecture for r in second if r.loss == NO_LOSS) == [
        "knn_probe", "linear_probe", "linear_probe_tuned", "majority"]
    assert {d for r in second for d in feature_stores(config, r)} == {"vit_tiny-mean-r256/full/images"}


def test_the_demo_runs_its_open_clip_encoder_as_parallel_heads_and_the_published_probe_on_exp1(config):
    runs = [r for r in expand_matrix(config) if r.encoder == "clip"]
    assert sorted((r.experiment, r.crop, r.loss, r.architecture) for r in runs) == [
        ("exp1", "full", NO_LOSS, "linear_probe"), ("exp1", "full", "wce", "parallel")]
    assert {d for r in runs for d in feature_stores(config, r)} == {"clip-mean-r256/full/images"}


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
    config["matrix"]["exclude"] = []  # the demo's exclusions name losses (exp6's lesion crops: no wce)
    runs = expand_matrix(config)
    stores = {d for r in runs for d in feature_stores(config, r)}
    few = copy.deepcopy(config)
    few["matrix"]["losses"] = few["matrix"]["losses"][:1]
    few["matrix"]["architectures"] = ["parallel"]
    assert {d for r in expand_matrix(few) for d in feature_stores(few, r)} == stores


def test_ood_exclude_drops_runs_from_the_ood_step_only(config):
    runs = expand_matrix(config)
    scored = ood_runs(config, runs)
    assert {r.loss for r in scored} == {"wce", "lmf"} and {r.architecture for r in scored} == {"parallel"}
    assert any(r.loss == "ldam" and r.architecture == "parallel" for r in runs)  # still trained
    del config["ood"]["exclude"]
    assert {r.loss for r in ood_runs(config, runs)} == {"wce", "focal", "ldam", "ldam_drw", "lmf", "bmixup"}


def test_the_real_config_scores_every_trained_run_whatever_the_demo_excludes(repo):
    # --configfile config/isic2019.yaml is merged onto config/config.yaml: the demo's ood.exclude must not leak
    def merge(base, over):
        for key, value in over.items():
            base[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        return base

    real = merge(load_yaml_strict(repo / "config/config.yaml"), load_yaml_strict(repo / "config/isic2019.yaml"))
    runs = expand_matrix(real)
    trained = [r for r in runs if r.architecture in real["ood"]["architectures"]]
    assert len(trained) > 1000 and ood_runs(real, runs) == trained
