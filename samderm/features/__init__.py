"""Frozen image-encoder features (families sam2, sam, timm): checkpoints, preprocessing,
shared lesion masks and crops, the feature store."""
