"""Detectors by name (samderm.ood.registry): base detectors with their config section, variants of
ood.variants beside them in the OOD tables, and the model bundle's gate rebuilt as the variant."""

import json

import numpy as np
import pytest

from samderm.config import load_yaml_strict
from samderm.heads import save_head
from samderm.ood import Mahalanobis
from samderm.ood.pipeline import FeatureLookup, score_run
from samderm.ood.registry import detector_spec
from samderm.predict.bundle import GateSpec, load_bundle, write_bundle

from .conftest import OOD_CONFIG, study_tables, train_head

VARIANTS = {"mahalanobis_lw": {"detector": "mahalanobis", "covariance": "ledoit_wolf"},
            "energy_again": {"detector": "energy"}}
OOD = {**OOD_CONFIG, "detectors": ["mahalanobis", "mahalanobis_lw", "energy_again"], "variants": VARIANTS,
       "mahalanobis": {"covariance": "empirical"}}


def test_names_resolve_to_a_detector_and_its_fixed_arguments():
    assert (detector_spec("mahalanobis", OOD).base, detector_spec("mahalanobis", OOD).fixed) == ("mahalanobis", {"covariance": "empirical"})
    lw = detector_spec("mahalanobis_lw", OOD)
    assert (lw.base, lw.fixed, lw().covariance) == ("mahalanobis", {"covariance": "ledoit_wolf"}, "ledoit_wolf")
    # a variant of a tuned detector is tuned on its detector's grid; the bundle records every argument
    assert detector_spec("energy_again", OOD).arguments({"temperature": 10.0}) == {"temperature": 10.0}
    assert detector_spec("relative_mahalanobis").arguments({}) == {"covariance": "empirical"}


@pytest.mark.parametrize("variants,name,message", [
    ({"x": {"detector": "mahalanobis", "shrinkage": 0.1}}, "x", "ood.variants.x.shrinkage: mahalanobis takes no fixed argument"),
    ({"x": {"detector": "knn", "k": 5}}, "x", "ood.variants.x.k: knn takes no fixed argument 'k'"),
    ({"x": {"detector": "mahalanobis_lw"}}, "x", "ood.variants.x.detector: 'mahalanobis_lw' is not one of"),
    ({"x": {"detector": "mahalanobis", "covariance": "shrunk"}}, "x", "ood.variants.x: unknown covariance estimator 'shrunk'"),
    ({"knn": {"detector": "knn"}}, "knn", "ood.variants.knn: a variant cannot take the name of the base detector"),
    ({}, "mahalanobis_lw", "ood.detectors: unknown detector 'mahalanobis_lw'"),
])
def test_bad_variants_name_the_key(variants, name, message):
    with pytest.raises(ValueError, match=message):
        detector_spec(name, {"variants": variants})


def test_every_detector_of_the_demo_config_resolves_and_it_shows_both_covariances():
    ood = load_yaml_strict("config/config.yaml")["ood"]
    specs = [detector_spec(name, ood) for name in ood["detectors"]]
    covariances = {(s.base, s.fixed.get("covariance")) for s in specs if "mahalanobis" in s.base}
    assert covariances == {(b, c) for b in ("mahalanobis", "relative_mahalanobis") for c in ("empirical", "ledoit_wolf")}


@pytest.fixture(scope="module")
def tables():
    manifest, splits, views, view_ids, features = study_tables()
    model = train_head(manifest, views, view_ids, features)
    return score_run(model, manifest, splits, views, FeatureLookup(view_ids, features, "store"), {**OOD, "heads": ["lesion"]})


def test_a_variant_is_its_own_row_beside_its_detector(tables):
    auroc = tables["metrics"][(tables["metrics"]["metric"] == "auroc") & (tables["metrics"]["ood_level"] == "all")]
    assert auroc["detector"].tolist() == ["mahalanobis", "mahalanobis_lw", "energy_again"]
    assert auroc["params"].tolist()[:2] == ["covariance=empirical", "covariance=ledoit_wolf"]
    scores = tables["scores"].pivot(index="image_id", columns="detector", values="score")
    assert not np.allclose(scores["mahalanobis"], scores["mahalanobis_lw"])
    # the variant of energy is energy, tuned on its grid (ood.energy.temperatures)
    assert tables["tuning"].loc[tables["tuning"]["detector"] == "energy_again", "temperature"].tolist() == [1.0, 10.0]


def test_the_bundle_rebuilds_a_variant_gate_exactly(tmp_path, caplog):
    manifest, _, views, view_ids, features = study_tables()
    save_head(train_head(manifest, views, view_ids, features), tmp_path / "gate.pt")
    x, labels = features[:80], np.arange(80) % 4
    spec = detector_spec("mahalanobis_lw", OOD)
    gate = GateSpec(tmp_path / "gate.pt", {}, {"encoder": "e", "pooling": "mean", "resolution": 64, "crop": "full"},
                    "lesion", spec.name, spec.arguments({}), 1.0, x, labels, base_detector=spec.base)
    content = write_bundle(tmp_path / "bundle", {}, gate, {}, {}, None, {}, "0" * 64)
    assert (content["gate"]["detector"], content["gate"]["base_detector"]) == ("mahalanobis_lw", "mahalanobis")
    assert content["gate"]["params"] == {"covariance": "ledoit_wolf"}
    rebuilt = load_bundle(tmp_path / "bundle").detector.predict(x)
    np.testing.assert_allclose(rebuilt, Mahalanobis(covariance="ledoit_wolf").fit(x, labels).predict(x), rtol=1e-6)
    assert not np.allclose(rebuilt, Mahalanobis().fit(x, labels).predict(x), rtol=1e-3)
    # a bundle written before the estimator was recorded meant Ledoit-Wolf, the default of its day
    path = tmp_path / "bundle" / "bundle.json"
    old = json.loads(path.read_text())
    old["gate"] = {**{k: v for k, v in old["gate"].items() if k != "base_detector"}, "detector": "mahalanobis", "params": {}}
    path.write_text(json.dumps(old))
    np.testing.assert_allclose(load_bundle(tmp_path / "bundle").detector.predict(x), rebuilt, rtol=1e-6)
    assert "records no covariance estimator: using ledoit_wolf" in caplog.text
