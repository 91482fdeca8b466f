"""Numba-compiled kernels: whole-array MACs, pooling, per-synapse updates and the counter-based perturbation RNG.

Every kernel has a plain-numpy twin in ``tests/test_kernels.py`` that it must match. Compilation is cached
on disk (``cache=True``), so only the first run on a machine pays for it.
"""
