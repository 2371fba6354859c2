"""Subgroup metadata in one spelling for every source: ISIC 2019, HAM10000, PAD-UFES-20, a labelled folder."""

from __future__ import annotations

import pytest

from samderm.data.isic import layout
from samderm.data.manifest import build_manifest
from samderm.data.metadata import normalise, subject_metadata


@pytest.mark.parametrize("column, value, expected", [
    ("sex", "FEMALE", "female"), ("sex", "male", "male"), ("sex", "unknown", ""), ("sex", "other", ""),
    ("age", "55.0", "55"), ("age", "7", "7"), ("age", "", ""), ("age", "-3", ""), ("age", "nan", ""),
    ("site", "anterior torso", "anterior_torso"), ("site", "upper extremity", "upper_extremity"), ("site", "NaN", ""),
    ("fitzpatrick", "3.0", "III"), ("fitzpatrick", "6", "VI"), ("fitzpatrick", "iv", "IV"), ("fitzpatrick", "7", ""),
    ("fitzpatrick", "2.5", ""), ("fitzpatrick", "", ""),
])
def test_values_are_spelled_one_way(column, value, expected):
    assert normalise(column, value) == expected


def test_each_source_naming_is_read():
    pad = {"meta_gender": "FEMALE", "meta_age": "61", "meta_region": "NOSE", "meta_fitspatrick": "2.0"}
    assert subject_metadata(pad, prefix="meta_") == {"sex": "female", "age": "61", "site": "nose", "fitzpatrick": "II"}
    ham = {"meta_sex": "male", "meta_age": "45.0", "meta_localization": "lower extremity"}
    assert subject_metadata(ham, prefix="meta_") == {"sex": "male", "age": "45", "site": "lower_extremity", "fitzpatrick": ""}
    isic = {"image": "x", "age_approx": "30.0", "anatom_site_general": "head/neck", "sex": "female"}
    assert subject_metadata(isic) == {"sex": "female", "age": "30", "site": "head_neck", "fitzpatrick": ""}


def test_isic_metadata_reaches_the_manifest(isic_layout, folders, labels_cfg):
    isic_layout.add("a", "NV").add("b", "MEL")
    ns, ood = folders
    manifest, _ = build_manifest(**layout(isic_layout.write()), not_skin_dir=ns, ood_dir=ood, labels_cfg=labels_cfg)
    row = manifest.set_index("image_id").loc["a"]
    assert row[["sex", "age", "site", "fitzpatrick"]].tolist() == ["male", "55", "anterior_torso", ""]
    assert (manifest.loc[manifest["source"] != "lesion", ["sex", "age", "site"]] == "").all().all()
