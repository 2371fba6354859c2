"""The one error a detector raises when a hyper-parameter cannot apply to the data it is fit on."""


class HyperParameterOutOfRange(ValueError):
    """E.g. k nearest neighbours with fewer than k training images: tuning skips that grid point."""
