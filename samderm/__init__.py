"""samderm: SAM2 features to a finished dermatology study."""
__version__ = "0.1.0"
