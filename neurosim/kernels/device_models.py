"""The weight devices' pulse-response models, one class each, found by name: a chip file's
``weights.device.model`` names one, the spec checks it against :attr:`DeviceModel.by_name`, and the device
kernel (:mod:`neurosim.kernels.devices`) takes its ``code`` and the constants it puts in ``dc``.

Adding a model: a subclass here (its name, a new code, whether it needs levels, its update equation in the
docstring, its constants), its branch in :func:`neurosim.kernels.devices.respond` and its copy of the rows'
sweep in :func:`neurosim.kernels.devices._write_rows`, and its response in the tests' numpy twin
(``tests/reference_devices.py``). Plain Python: the spec reads it without loading numba.

In the equations p is a device's state in [0, 1], n the pulses of one write, s the device's own step in
nominal steps (step variation, up/down asymmetry), Δp = 1/(levels − 1) the nominal step; an up pulse
potentiates, a down pulse depresses, and write noise adds to the result (``write_noise_model``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class DeviceModel:
    """A pulse-response model: ``name`` in a chip file, ``code`` in the compiled response, ``needs_levels``
    (a curve over pulses needs a finite number of levels). Subclasses register themselves by name."""

    name: ClassVar[str]
    code: ClassVar[int]
    needs_levels: ClassVar[bool] = True
    by_name: ClassVar[dict[str, type[DeviceModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name in DeviceModel.by_name or cls.code in {m.code for m in DeviceModel.by_name.values()}:
            raise TypeError(f"device model {cls.__name__}: name {cls.name!r} or code {cls.code} taken")
        DeviceModel.by_name[cls.name] = cls

    @classmethod
    def curve_constants(cls, device: Any, p_max: float) -> dict[str, float]:
        """The model's own constants for the kernel's ``dc`` (by slot name), given the device spec and
        Pmax = levels − 1; none by default."""
        return {}


class Linear(DeviceModel):
    """p → p ± n·s·Δp: every pulse moves the state by the device's own step, wherever it is (clipped to
    [0, 1]). An analog device (no levels) takes any change in one pulse, scaled by its own range."""

    name, code, needs_levels = "linear", 0, False


class SoftBounds(DeviceModel):
    """p → 1 − (1 − p)·(1 − 2Δp)^(n·s) up, p·(1 − 2Δp)^(n·s) down: each step is a fixed share of the way left
    to the bound approached, one nominal step at mid-range (aihwkit's SoftBoundsDevice)."""

    name, code = "soft_bounds", 1


class Exponential(DeviceModel):
    """NeuroSim's curves: p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)) of the pulses P from the bound, moved on
    by n·s pulses, p → p(p⁻¹(p) + n·s), capped at the top; depression is the mirrored curve from the other
    bound. A = Pmax/ν of ``nonlinearity_up`` and ``nonlinearity_down`` (ν = 0: the straight line; ν > 0
    saturating, ν < 0 accelerating). The kernel takes A and E = expm1(−Pmax/A) of each curve."""

    name, code = "exponential", 2

    @classmethod
    def curve_constants(cls, device: Any, p_max: float) -> dict[str, float]:
        out = {}
        for side, nu in (("UP", device.nonlinearity_up), ("DOWN", device.nonlinearity_down)):
            a = p_max / nu if nu != 0 else math.inf
            out[f"A_{side}"], out[f"E_{side}"] = a, (math.expm1(-p_max / a) if nu != 0 else 0.0)
        return out
