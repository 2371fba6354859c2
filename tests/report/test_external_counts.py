"""The data tables with an external source: its counts row checked against its own manifest rows, its
images a column of the class table and its unmapped images a row of their own."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.report.aggregate import ResultsError
from samderm.report.summaries import class_split_counts, source_counts


def manifest() -> pd.DataFrame:
    rows = [("a", "lesion", "", "ok", "MEL"), ("b", "lesion", "", "ok", "NV"),
            ("x", "external", "clinic", "ok", "MEL"), ("y", "external", "clinic", "ok", ""),
            ("z", "external", "clinic", "excluded", "NV"), ("h", "external", "ham", "ok", "NV")]
    return pd.DataFrame(rows, columns=["image_id", "source", "dataset", "status", "lesion_class"])


def counts(used_clinic: int) -> pd.DataFrame:
    return pd.DataFrame({"source": ["lesion", "external:clinic", "external:ham"], "found": [2, 1 + used_clinic, 1],
                         "used": [2, used_clinic, 1], "rejected": [0, 0, 0], "excluded": [0, 1, 0]})


def test_each_external_row_reconciles_with_its_own_data_set():
    assert len(source_counts(counts(2), manifest())) == 3
    with pytest.raises(ResultsError, match="external:clinic.*used 3.*2 'ok'"):
        source_counts(counts(3), manifest())


def test_external_sources_are_columns_and_unmapped_images_a_row():
    splits = pd.DataFrame({"image_id": ["a", "b", "x", "y", "h"],
                           "split": ["train", "test", "external:clinic", "external:clinic", "external:ham"]})
    table = class_split_counts(manifest(), splits, ["MEL", "NV"]).set_index("class")
    assert table.columns.tolist() == ["train", "val", "test", "external:clinic", "external:ham", "total"]
    assert table.loc["MEL"].tolist() == [1, 0, 0, 1, 0, 2]
    assert table.loc["NV"].tolist() == [0, 0, 1, 0, 1, 2]
    assert table.loc["unmapped"].tolist() == [0, 0, 0, 1, 0, 1]
