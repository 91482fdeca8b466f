"""The compiled device kernel (neurosim.kernels.devices, through DeviceArray) against its plain-numpy twin
(tests/reference_devices.py), over randomized configurations of every model, encoding, rounding, noise model
and failure mode; and the fixes it brought: no lost pulse, write noise by each device's own step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_devices import ReferenceDevices, normal, stream_base, uniform

from neurosim.chip.devices import DeviceArray
from neurosim.kernels import devices as kernel
from neurosim.spec.chip import WeightsSpec
from neurosim.spec.fields import build


def weights_spec(device: dict | None = None, **top) -> WeightsSpec:
    return build(WeightsSpec, {**top, "device": device or {}}, "t.yaml", "chip.weights")


def random_config(rng: np.random.Generator) -> tuple[dict, dict]:
    """A random device and weights configuration (spec dicts), valid by construction."""
    model = str(rng.choice(sorted(kernel.MODELS)))  # every model the kernel knows, a new one included
    analog = model == "linear" and rng.random() < 0.3
    pair = rng.random() < 0.4
    device = {
        "levels": None if analog else int(rng.choice([5, 11, 32, 51, 128])),
        "model": model,
        "write_noise": float(rng.choice([0.0, 0.3, 2.0])) if not analog else float(rng.choice([0.0, 0.01])),
        "write_noise_model": str(rng.choice(["additive", "multiplicative"])),
        "range_variation": float(rng.choice([0.0, 0.2])),
        "endurance_cycles": float(rng.choice([5, 40, 1e9])),
        "endurance_spread": float(rng.choice([0.0, 0.5])),
        "failure_mode": str(rng.choice(["stuck", "low", "high"])),
    }
    if not analog:
        device["asymmetry"] = float(rng.choice([0.0, 0.3, -0.2]))
        device["step_variation"] = float(rng.choice([0.0, 0.3]))
    if model == "exponential":
        device["nonlinearity_up"] = float(rng.choice([0.0, 0.5, 3.0, -1.2]))
        device["nonlinearity_down"] = float(rng.choice([0.0, 1.25, -1.0]))
    top: dict = {"write": {"rounding": str(rng.choice(["accumulate", "stochastic"]))}}
    if pair:
        top["encoding"] = "pair"
        if rng.random() < 0.6:
            top["refresh_threshold"] = float(rng.choice([0.5, 0.8, 0.95]))
    return device, top


@pytest.mark.parametrize("case", range(40))
def test_kernel_matches_the_numpy_twin_over_random_configurations(case: int) -> None:
    rng = np.random.default_rng(1000 + case)
    device, top = random_config(rng)
    spec = weights_spec(device, **top)
    shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    initial = rng.uniform(-0.9, 0.9, shape).astype(np.float32)
    key, offset = int(rng.integers(0, 2 ** 63)), int(rng.integers(0, 1000))
    a = DeviceArray(spec, initial, np.random.default_rng(case), write_key=key, offset=offset)
    a.fast = False  # the general kernel, also for ideal devices: the twin has no special case
    twin = ReferenceDevices(spec, a.state, a.gain, a.step_scale, a.endurance, key, offset)
    assert np.array_equal(twin.value, a.value)
    step = 2.0 / (device["levels"] - 1) if device["levels"] else 0.05
    for update in range(60):
        size = float(rng.choice([0.3, 1.0, 2.7]))
        delta = (rng.normal(0, size * step, shape) * (rng.random(shape) < 0.8)).astype(np.float32)
        if update % 7 == 3:
            delta = np.full(shape, step, np.float32) * np.float32(rng.choice([-1, 1]))  # whole steps
        pulses = a.write(delta)
        expected = twin.write(delta)
        assert np.array_equal(pulses, expected), (case, update)
        assert np.array_equal(a.writes, twin.writes) and np.array_equal(a.failed, twin.failed)
        np.testing.assert_allclose(a.state, twin.state, rtol=0, atol=1e-13)
        np.testing.assert_allclose(a.residual, twin.residual, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.value, twin.value, rtol=0, atol=1e-6)
        twin.state = a.state.copy()  # one ulp of a transcendental function must not grow over the run


def test_the_counter_based_draws_match_their_numpy_twin() -> None:
    import numba as nb

    from neurosim.kernels.rng import normal_at
    from neurosim.kernels.rng import stream_base as base_of
    from neurosim.kernels.rng import uniform_at

    @nb.njit
    def draws(key: np.uint64, counter: np.uint64, n: int) -> tuple:
        base = base_of(key, counter)
        u, z = np.empty(n), np.empty(n)
        for i in range(n):
            u[i] = uniform_at(base, np.uint64(i))
            z[i] = normal_at(base, np.uint64(i))
        return u, z

    u, z = draws(np.uint64(12345), np.uint64(7), 20000)
    base = stream_base(12345, 7)
    index = np.arange(20000, dtype=np.uint64)
    assert np.array_equal(u, uniform(base, index))
    np.testing.assert_allclose(z, normal(base, index), rtol=0, atol=1e-14)   # the ziggurat's rare paths too
    assert 0.0 <= u.min() and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.01) and z.std() == pytest.approx(1.0, abs=0.02)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.03
    # the normal draws are normal: their distribution against Φ (Kolmogorov-Smirnov distance; 400k draws:
    # 0.0027 is the 1% critical value), the tail beyond the ziggurat's base strip R, and the fourth moment
    _, z = draws(np.uint64(99), np.uint64(3), 400_000)
    z.sort()
    phi = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    n = z.size
    assert max(np.max(np.arange(1, n + 1) / n - phi), np.max(phi - np.arange(n) / n)) < 0.0027
    assert np.mean(np.abs(z) > 3.442619855899) == pytest.approx(5.76e-4, rel=0.15)
    assert np.mean(z ** 4) == pytest.approx(3.0, abs=0.05)


def test_one_step_requests_in_float32_never_lose_a_pulse() -> None:
    """51 levels over [-1, 1]: a step is 0.04, whose float32 is a hair below it (-2.2e-8 steps). A residual
    that kept that hair lost the 44th pulse; now 1000 one-step requests send exactly 1000 pulses and leave no
    residual, whichever direction."""
    for sign in (1, -1):
        a = make = DeviceArray(weights_spec({"levels": 51}), np.zeros((1, 1), np.float32), np.random.default_rng(0))
        del make
        step = np.float32(sign * 2.0 / 50)
        sent = [int(a.write(np.full((1, 1), step))[0, 0]) for _ in range(1000)]
        assert sent == [1] * 1000
        assert a.residual[0, 0] == 0.0
        assert int(a.writes.sum()) == 1000
    # and a request a little off a whole step still carries its remainder (the snap is float32-sized only)
    b = DeviceArray(weights_spec({"levels": 51}), np.zeros((1, 1), np.float32), np.random.default_rng(0))
    for _ in range(3):
        b.write(np.full((1, 1), np.float32(0.04 * 1.001)))
    assert b.residual[0, 0] == pytest.approx(0.003, rel=1e-3)


def test_additive_write_noise_scales_with_each_devices_own_step() -> None:
    """Step variation and asymmetry make a device's step its own; additive noise is in those steps: up
    pulses of a device with step scale s and asymmetry a have noise std write_noise·s·(1+a)·nominal."""
    n = 300
    device = {"levels": 129, "write_noise": 0.5, "step_variation": 0.3, "asymmetry": 0.25}
    a = DeviceArray(weights_spec(device), np.zeros((n, n), np.float32), np.random.default_rng(3), write_key=9)
    before = a.state[0].copy()
    a.write(np.full((n, n), 2 / 128, np.float32))          # one nominal step up
    own = a.step_scale[0] * 1.25 / 128
    unclipped = (a.state[0] > 0) & (a.state[0] < 1) & (own > 0)
    noise = (a.state[0] - before - own)[unclipped] / own[unclipped]   # in the device's own steps
    assert noise.std() == pytest.approx(0.5, rel=0.03)
    assert abs(np.corrcoef(noise, a.step_scale[0][unclipped])[0, 1]) < 0.03


def test_multiplicative_write_noise_is_proportional_to_the_actual_step() -> None:
    """aihwkit's mult_noise: a soft-bounds step near the top bound is small, and so is its noise; std
    write_noise·|actual change|/sqrt(n) for n pulses."""
    n = 300
    device = {"levels": 101, "model": "soft_bounds", "write_noise": 0.3, "write_noise_model": "multiplicative"}
    for start, pulses in ((0.0, 1), (0.9, 1), (0.0, 4)):
        a = DeviceArray(weights_spec(device), np.full((n, n), start, np.float32), np.random.default_rng(0),
                        write_key=5)
        p0 = a.state[0].copy()
        a.write(np.full((n, n), pulses * 0.02, np.float32))
        clean = 1 - (1 - p0) * (1 - 2 / 100) ** pulses
        change = clean - p0
        noise = (a.state[0] - clean) / change
        assert noise.std() == pytest.approx(0.3 / np.sqrt(pulses), rel=0.04)


def test_the_devices_write_kernel_refuses_arrays_of_other_sizes() -> None:
    spec = weights_spec({"levels": 11})
    dc, di = kernel.constants(spec)
    two = np.zeros((1, 4))
    with pytest.raises(ValueError):
        kernel.write(dc, di, np.uint64(0), 0, 0, np.zeros(3, np.float32), two, two, two, two,
                     np.zeros((1, 4), np.int64), np.zeros((1, 4), bool), np.zeros(4), np.zeros(4, np.float32),
                     np.zeros(4, np.int64), *kernel.scratch(4))
    with pytest.raises(ValueError):  # working arrays of another write's size
        kernel.write(dc, di, np.uint64(0), 0, 0, np.zeros(4, np.float32), two, two, two, two,
                     np.zeros((1, 4), np.int64), np.zeros((1, 4), bool), np.zeros(4), np.zeros(4, np.float32),
                     np.zeros(4, np.int64), *kernel.scratch(3))


def test_device_models_are_classes_found_by_name_and_a_taken_name_or_code_is_refused() -> None:
    from neurosim.kernels.device_models import DeviceModel, Exponential

    assert kernel.MODELS == {name: model.code for name, model in DeviceModel.by_name.items()}
    assert DeviceModel.by_name["exponential"] is Exponential
    with pytest.raises(TypeError, match="taken"):
        type("AnotherExponential", (DeviceModel,), {"name": "exponential", "code": 99})
    with pytest.raises(TypeError, match="taken"):
        type("SameCode", (DeviceModel,), {"name": "new_model", "code": Exponential.code})
    assert "new_model" not in DeviceModel.by_name


def test_requests_far_below_a_step_accumulate_as_the_twin_does() -> None:
    """Blocks of weights whose sums stay below a step take the requests' one-pass sweep and no pulse: many
    writes of small changes over several blocks of the kernel's sweep, with now and then a change of a step
    or more, give the twin's pulses and residuals; both kinds of write occur."""
    spec = weights_spec({"levels": 32, "model": "exponential", "nonlinearity_up": 1.42, "nonlinearity_down": -1.18,
                         "write_noise": 0.155}, write={"rounding": "accumulate"})
    rng = np.random.default_rng(7)
    shape = (20, 17)  # 340 weights: three blocks of the sweep
    a = DeviceArray(spec, rng.uniform(-0.8, 0.8, shape).astype(np.float32), np.random.default_rng(0), write_key=5,
                    offset=3)
    a.fast = False
    twin = ReferenceDevices(spec, a.state, a.gain, a.step_scale, a.endurance, 5, 3)
    step = 2.0 / 31
    silent = pulsed = 0
    for update in range(300):
        delta = rng.normal(0, 0.06 * step, shape).astype(np.float32)
        if update % 50 == 49:
            delta[rng.integers(0, 20), rng.integers(0, 17)] = np.float32(1.7 * step)
        pulses = a.write(delta)
        assert np.array_equal(pulses, twin.write(delta)), update
        np.testing.assert_allclose(a.residual, twin.residual, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.value, twin.value, rtol=0, atol=1e-6)
        twin.state = a.state.copy()
        silent += not pulses.any()
        pulsed += bool(pulses.any())
    assert silent > 20 and pulsed > 20, (silent, pulsed)
