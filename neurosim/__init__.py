"""neurosim: a cycle-level simulator of analog neuromorphic chips trained in situ by multiplexed gradient descent.

Importing the package pins numba and BLAS to one thread unless the caller chose otherwise (threads stall
badly on small shared machines; parallelism comes from running runs side by side), and keeps numba's
compilation cache in a user cache folder so only the first run on a machine pays for compilation.
"""

import os as _os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")


def _kernels_digest() -> str:
    """A digest of the kernels' sources. numba's cache checks a cached function's own file only, not the
    files of the compiled functions it calls (chip mode calls the device kernels, the device kernels the
    RNG): one cache folder per version of the kernels keeps it from running stale code."""
    import hashlib

    folder = _os.path.join(_os.path.dirname(__file__), "kernels")
    digest = hashlib.sha256()
    for name in sorted(_os.listdir(folder)):
        if name.endswith(".py"):
            with open(_os.path.join(folder, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


_os.environ.setdefault("NUMBA_CACHE_DIR", _os.path.join(_os.path.expanduser("~"), ".cache", "neurosim", "numba",
                                                        _kernels_digest()))

__version__ = "0.1.0"


def __getattr__(name: str):  # the Python API, imported on first use so `import neurosim` stays light
    if name in ("load", "train", "resume", "open_run", "describe", "Run"):
        from neurosim import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")
