"""Lumbung: a federated registry of e-government applications and datasets."""

__version__ = "0.1.0"
