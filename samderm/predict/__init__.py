"""A finished study applied to new images: the model bundle (results/models/) and ``samderm predict``."""

from samderm.predict.bundle import FORMAT, Bundle, BundleError, load_bundle, write_bundle
from samderm.predict.run import predict_images

__all__ = ["FORMAT", "Bundle", "BundleError", "load_bundle", "predict_images", "write_bundle"]
