"""neurosim: a cycle-level simulator of analog neuromorphic chips trained in situ by multiplexed gradient descent.

Importing the package pins numba and BLAS to one thread unless the caller chose otherwise (threads stall
badly on small shared machines; parallelism comes from running runs side by side), and keeps numba's
compilation cache in a user cache folder so only the first run on a machine pays for compilation.
"""

import os as _os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
_os.environ.setdefault("NUMBA_CACHE_DIR",
                       _os.path.join(_os.path.expanduser("~"), ".cache", "neurosim", "numba"))

__version__ = "0.1.0"


def __getattr__(name: str):  # the Python API, imported on first use so `import neurosim` stays light
    if name in ("load", "train", "resume", "open_run", "describe", "Run"):
        from neurosim import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")
