"""Metrics from scikit-learn and the ISIC 2019 submission format."""

from samderm.metrics.classification import classification_metrics, macro_f1
from samderm.metrics.isic import isic_tables, write_csv

__all__ = ["classification_metrics", "isic_tables", "macro_f1", "write_csv"]
