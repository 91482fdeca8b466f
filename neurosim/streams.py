"""One random stream per purpose, derived from the run's seed.

Changing one model (say, adding write noise) never reshuffles another (the sample order, the initial
weights), because each draws from its own stream.
"""

from __future__ import annotations

import numpy as np

INIT, SAMPLES, PERTURBATIONS, DEVICE_VARIATION, WRITE_NOISE, READ_NOISE, COST_NOISE, MISMATCH = range(1, 9)


def stream(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, purpose]))


def key(seed: int, purpose: int) -> int:
    """A 64-bit key for the counter-based generators."""
    return int(np.random.SeedSequence([seed, purpose]).generate_state(1, np.uint64)[0])
