"""The data layer: images, manifest, splits, balancing views, demo data and downloads."""
