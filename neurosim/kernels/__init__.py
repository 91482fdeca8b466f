"""Numba-compiled kernels: whole-array MACs, pooling, per-synapse updates, the weight devices, compiled chip mode
and the counter-based RNG.

Every kernel has a plain-numpy twin in the tests that it must match (``tests/test_kernels.py``; the weight
devices' in ``tests/reference_devices.py``). Compilation is cached
on disk (``cache=True``), so only the first run on a machine pays for it.
"""
