"""The taxonomy step: each dataset's labels mapped to the study's classes, with counts that add up."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.data.labels import ISIC_CLASSES
from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources.taxonomy import DEFAULT_MAPPINGS, apply_mapping


def source_table(labels: list[str], dataset: str = "pad_ufes20") -> pd.DataFrame:
    rows = [{c: "" for c in SOURCE_COLUMNS} | {"image_id": f"i{k}", "dataset": dataset, "original_label": label,
                                               "meta_age": "40"}
            for k, label in enumerate(labels)]
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS + ["meta_age"])


def test_default_mappings():
    assert DEFAULT_MAPPINGS["ham10000"] == {"akiec": "AK", "bcc": "BCC", "bkl": "BKL", "df": "DF",
                                            "mel": "MEL", "nv": "NV", "vasc": "VASC"}
    assert DEFAULT_MAPPINGS["pad_ufes20"] == {"ACK": "AK", "BCC": "BCC", "MEL": "MEL", "NEV": "NV",
                                              "SCC": "SCC", "SEK": "BKL", "BOD": "SCC"}
    assert DEFAULT_MAPPINGS["isic2019_test"] == {c: c for c in ISIC_CLASSES}
    assert "UNK" not in DEFAULT_MAPPINGS["isic2019_test"]
    for mapping in DEFAULT_MAPPINGS.values():
        assert set(mapping.values()) <= set(ISIC_CLASSES)


def test_mapping_fills_the_columns_and_counts_reconcile():
    table = source_table(["SEK", "NEV", "SEK", "ACK", "", "SCC"])
    mapped, counts = apply_mapping(table, DEFAULT_MAPPINGS["pad_ufes20"])
    assert list(mapped.columns) == list(table.columns) and len(mapped) == len(table)
    assert mapped["lesion_class"].tolist() == ["BKL", "NV", "BKL", "AK", "", "SCC"]
    assert mapped["mapping"].tolist() == ["mapped"] * 4 + ["unlabelled", "mapped"]
    assert table["lesion_class"].eq("").all()  # the input is not changed
    assert list(counts.columns) == ["original_label", "lesion_class", "mapping", "images"]
    assert counts.to_dict("records") == [
        {"original_label": "", "lesion_class": "", "mapping": "unlabelled", "images": 1},
        {"original_label": "ACK", "lesion_class": "AK", "mapping": "mapped", "images": 1},
        {"original_label": "NEV", "lesion_class": "NV", "mapping": "mapped", "images": 1},
        {"original_label": "SCC", "lesion_class": "SCC", "mapping": "mapped", "images": 1},
        {"original_label": "SEK", "lesion_class": "BKL", "mapping": "mapped", "images": 2},
    ]
    assert counts["images"].sum() == len(mapped)


@pytest.mark.parametrize("unmapped, expected", [("exclude", "unmapped_excluded"), ("near_ood", "unmapped_near_ood")])
def test_unmapped_labels_exclude_or_near_ood(unmapped, expected):
    table = source_table(["MEL", "UNK", "UNK", "NV"], dataset="isic2019_test")
    mapped, counts = apply_mapping(table, DEFAULT_MAPPINGS["isic2019_test"], unmapped=unmapped)
    assert mapped["mapping"].tolist() == ["mapped", expected, expected, "mapped"]
    assert mapped["lesion_class"].tolist() == ["MEL", "", "", "NV"]
    unk = counts[counts["original_label"] == "UNK"].to_dict("records")
    assert unk == [{"original_label": "UNK", "lesion_class": "", "mapping": expected, "images": 2}]
    assert counts["images"].sum() == len(table)


def test_a_target_outside_the_classes_is_refused_naming_the_source():
    with pytest.raises(ValueError, match=r"source class 'SEK' maps to 'SK', which is not one of the classes"):
        apply_mapping(source_table(["SEK"]), {"ACK": "AK", "SEK": "SK"})
    # a narrower class list refuses a target that the default one allows
    with pytest.raises(ValueError, match=r"source class 'SCC' maps to 'SCC'"):
        apply_mapping(source_table(["SCC"]), DEFAULT_MAPPINGS["pad_ufes20"], classes=("MEL", "NV", "BCC", "AK", "BKL"))


def test_bad_unmapped_choice_is_refused():
    with pytest.raises(ValueError, match=r"unmapped: must be one of \['exclude', 'near_ood'\], got 'drop'"):
        apply_mapping(source_table(["MEL"]), DEFAULT_MAPPINGS["pad_ufes20"], unmapped="drop")


def test_empty_table_gives_empty_counts():
    mapped, counts = apply_mapping(source_table([]), DEFAULT_MAPPINGS["ham10000"])
    assert len(mapped) == 0 and list(counts.columns) == ["original_label", "lesion_class", "mapping", "images"]
    assert len(counts) == 0
