"""Scoring per-image predictions written by other models (or by ours, for others): PanDerm's released per-image
CSV schema and the ISIC 2019 submission format, read and checked (``read``), scored like a run (``score``), set
beside the study's best model (``tabulate``); ``exchange`` writes a run's predictions in PanDerm's schema.
Nothing is imported here, so ``samderm --help`` stays fast."""
