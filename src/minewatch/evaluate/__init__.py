"""Labelled benchmarks that measure detectors; each module runs with `python -m`."""
