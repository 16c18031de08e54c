"""Engines run the same detector kernels in process (`local`) or on Spark (`spark`).

`kernels` holds the only code both call; an engine only decides which rows travel together.
"""
