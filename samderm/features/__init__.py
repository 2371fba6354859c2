"""Frozen SAM2 encoder features: checkpoints, preprocessing, lesion crops, the feature store."""
