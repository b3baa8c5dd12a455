"""Batch-size calibrator for nnU-Net v2 training runs (see README.md)."""

__version__ = "0.1.0"
