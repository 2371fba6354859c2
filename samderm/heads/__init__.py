"""Heads on frozen encoder features: ``HeadModel`` (parallel or multihead), saved as model.pt."""

from samderm.heads.io import FORMAT, load_head, save_head
from samderm.heads.model import TRAINED_TYPES, HeadModel

__all__ = ["FORMAT", "HeadModel", "TRAINED_TYPES", "load_head", "save_head"]
