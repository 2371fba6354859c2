"""A run's data: labels per task from the manifest, features matched by view_id, clear errors."""

from __future__ import annotations

import pytest

from samderm.train import build_run_data, task_classes
from samderm.train.tasks import NO_LABEL

from .conftest import LABELS, synthetic_tables


def build(t, labels=LABELS, **kw):
    return build_run_data(t["views"], t["manifest"], t["view_ids"], t["features"], task_classes(labels), **kw)


def test_labels_per_task_and_features_by_view_id():
    t = synthetic_tables(per_class=10, not_skin=10, augmented=2)
    shuffled = list(reversed(t["view_ids"]))
    data = build_run_data(t["views"], t["manifest"], shuffled, t["features"][::-1], task_classes(LABELS), splits=t["splits"])
    assert (data.features == t["features"]).all()  # rows follow the views, not the store order
    row = {v: i for i, v in enumerate(t["views"]["view_id"])}
    skin, lesion, malignancy = data.labels.T
    not_skin = row["not_skin_x_0"]
    assert (skin[not_skin], lesion[not_skin], malignancy[not_skin]) == (0, NO_LABEL, NO_LABEL)
    mel, nv = row["lesion_MEL_3__aug2"], row["lesion_NV_0"]
    assert (skin[mel], lesion[mel], malignancy[mel]) == (1, 0, 1)
    assert (skin[nv], lesion[nv], malignancy[nv]) == (1, 1, 0)
    assert data.original.sum() == 90 and len(data.rows("train", "lesion")) == 8 * 6 * 3
    assert len(data.rows("train", "lesion", originals_only=True)) == 8 * 6


def test_unk_kept_is_a_ninth_class_without_malignancy():
    t = synthetic_tables(per_class=10, not_skin=10)
    unk = t["manifest"]["image_id"] == "lesion_DF_0"
    t["manifest"].loc[unk, ["lesion_class", "malignancy"]] = ["UNK", ""]
    with pytest.raises(ValueError, match=r"image 'lesion_DF_0': lesion label 'UNK' is not one of"):
        build(t)
    data = build(t, labels={**LABELS, "unk": "keep"})
    i = list(t["views"]["view_id"]).index("lesion_DF_0")
    assert data.tasks["lesion"][-1] == "UNK" and data.labels[i, 1] == 8 and data.labels[i, 2] == NO_LABEL


def test_a_view_without_a_feature_row_is_an_error():
    t = synthetic_tables(per_class=10, not_skin=10)
    t["view_ids"], t["features"] = t["view_ids"][1:], t["features"][1:]
    with pytest.raises(ValueError, match=r"1 view\(s\) have no feature row, e.g. \['lesion_MEL_0'\]"):
        build(t)


def test_ood_views_unknown_images_and_split_disagreements_are_errors():
    t = synthetic_tables(per_class=10, not_skin=10)
    t["views"].loc[0, "source"] = "ood"
    t["manifest"].loc[0, "source"] = "ood"
    with pytest.raises(ValueError, match="image 'lesion_MEL_0': source 'ood' cannot be trained on"):
        build(t)
    t = synthetic_tables(per_class=10, not_skin=10)
    t["manifest"] = t["manifest"].iloc[1:]
    with pytest.raises(ValueError, match=r"1 image_id\(s\) not in the manifest, e.g. \['lesion_MEL_0'\]"):
        build(t)
    t = synthetic_tables(per_class=10, not_skin=10)
    t["splits"].loc[t["splits"]["image_id"] == "lesion_NV_0", "split"] = "test"
    with pytest.raises(ValueError, match=r"split disagrees .* e.g. \['lesion_NV_0'\]"):
        build(t, splits=t["splits"])
