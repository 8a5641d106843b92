"""The version of the lumbung-client distribution."""

__version__ = "0.1.0"
