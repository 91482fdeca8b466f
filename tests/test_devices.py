"""Device physics of the weight arrays, pinned to values computed by hand on tiny arrays.

Conventions (neurosim/chip/devices.py): a device state p in [0, 1] is its conductance as a fraction of its
range; a single device holds w = w_mid + (p - 1/2)·(w_max - w_min); a pair holds w = w_max·(p+ - p-).
With L levels a nominal step is 1/(L-1) of the state range, i.e. (w_max - w_min)/(L-1) of a single
device's weight range and w_max/(L-1) of a pair's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import config_with

from neurosim.chip.devices import DeviceArray
from neurosim.simulation import Simulation
from neurosim.spec.chip import WeightsSpec
from neurosim.spec.fields import build


def weights_spec(device: dict | None = None, **top) -> WeightsSpec:
    return build(WeightsSpec, {**top, "device": device or {}}, "t.yaml", "chip.weights")


def make_array(initial, *, device: dict | None = None, seed: int = 0, noise_seed: int = 100, **top) -> DeviceArray:
    return DeviceArray(weights_spec(device, **top), np.asarray(initial, np.float32),
                       np.random.default_rng(seed), write_key=noise_seed, read_key=noise_seed + 1)


def f32(x) -> np.ndarray:
    return np.asarray(x, np.float32)


# ---------------------------------------------------------------------------------------------- linear, levels

def test_linear_levels_residual_and_clipping_three_updates() -> None:
    # 5 levels over [-1, 1]: step = 2/(5-1) = 0.5 in weight, 0.25 in state.
    a = make_array([[0.0, 0.5], [-0.5, 1.0]], device={"levels": 5})
    assert a.step_w == 0.5 and a.step_p == 0.25
    # p = 1/2 + w/2
    assert np.allclose(a.state[0], [[0.5, 0.75], [0.25, 1.0]])
    # requested per update, in steps: [[+0.6, -0.6], [-1.2, +1.0]]
    delta = f32([[0.3, -0.3], [-0.6, 0.5]])
    # (0,0): wanted 0.6 -> 0 pulses (r .6); 1.2 -> 1 (r .2), w 0 -> .5; 0.8 -> 0 (r .8)
    # (0,1): mirror image: w .5 -> 0 at the 2nd update, r -.8 at the end
    # (1,0): -1.2 -> -1 (r -.2), w -.5 -> -1; -1.4 -> -1 (r -.4) clipped at p=0; -1.6 -> -1 (r -.6) clipped
    # (1,1): 1.0 -> 1 pulse each update, clipped at p=1 every time
    expected_pulses = [[[0, 0], [1, 1]], [[1, 1], [1, 1]], [[0, 0], [1, 1]]]
    expected_values = [[[0.0, 0.5], [-1.0, 1.0]], [[0.5, 0.0], [-1.0, 1.0]], [[0.5, 0.0], [-1.0, 1.0]]]
    for pulses, values in zip(expected_pulses, expected_values):
        assert np.array_equal(a.write(delta), pulses)
        assert np.allclose(a.value, values, atol=1e-6)
    assert np.allclose(a.residual, [[0.8, -0.8], [-0.6, 0.0]], atol=1e-6)
    assert np.array_equal(a.writes[0], [[1, 1], [3, 3]])   # clipped pulses are still pulses (wear)
    assert not a.failed.any()


def test_linear_step_is_range_over_levels_minus_one_on_an_offset_range() -> None:
    # w in [0, 3] with 4 levels: step = 3/3 = 1; w_mid = 1.5, so w=1 is p = 1/2 + (1-1.5)/3 = 1/3
    a = make_array([[1.0]], device={"levels": 4}, w_min=0.0, w_max=3.0)
    assert a.step_w == 1.0
    assert a.state[0, 0, 0] == pytest.approx(1 / 3)
    assert int(a.write(f32([[1.0]]))[0, 0]) == 1
    assert a.value[0, 0] == pytest.approx(2.0)
    a.write(f32([[-2.0]]))
    assert a.value[0, 0] == pytest.approx(0.0)             # two pulses down reach w_min
    assert int(a.writes.sum()) == 3


def test_residual_carries_quarter_steps_into_one_pulse() -> None:
    # 11 levels over [-1, 1]: step 0.2; four requests of 0.05 = 0.25 step -> one pulse at the 4th
    a = make_array(np.zeros((2, 2)), device={"levels": 11})
    sent = [int(a.write(np.full((2, 2), 0.05, np.float32)).sum()) for _ in range(4)]
    assert sent == [0, 0, 0, 4]
    assert np.allclose(a.value, 0.2, atol=1e-6)
    assert np.allclose(a.residual, 0.0, atol=1e-6)


# ---------------------------------------------------------------------------------------- stochastic rounding

def test_stochastic_rounding_mean_pulses_equals_requested_fraction() -> None:
    n = 200
    a = make_array(np.zeros((n, n)), device={"levels": 11}, write={"rounding": "stochastic"})
    pulses = a.write(np.full((n, n), 0.05, np.float32))       # 0.25 of a step
    assert set(np.unique(pulses)) == {0, 1}
    # Bernoulli(0.25) over 40000 devices: standard error 0.0022
    assert pulses.mean() == pytest.approx(0.25, abs=0.01)
    assert np.array_equal(a.residual, np.zeros((n, n)))       # nothing is carried over
    assert a.value.mean() == pytest.approx(0.05, abs=0.002)   # unbiased in expectation: 0.2 x 0.25
    # -1.35 steps: -1 pulse w.p. 0.65, -2 w.p. 0.35 -> mean |pulses| 1.35
    b = make_array(np.zeros((n, n)), device={"levels": 11}, write={"rounding": "stochastic"})
    count = b.write(np.full((n, n), -0.27, np.float32))
    assert set(np.unique(count)) == {1, 2}
    assert count.mean() == pytest.approx(1.35, abs=0.01)
    assert np.allclose(b.value, -0.2 * count, atol=1e-6)
    # the same request under accumulate rounding sends nothing
    c = make_array(np.zeros((n, n)), device={"levels": 11})
    assert c.write(np.full((n, n), 0.05, np.float32)).sum() == 0


# ---------------------------------------------------------------------------------------- nonlinear responses

def test_soft_bounds_closed_form() -> None:
    # 11 levels: step 0.1, shrink factor 1 - 2·0.1 = 0.8 per pulse
    # up:   p <- 1 - (1-p)·0.8 ; down: p <- p·0.8
    # (0,0) p .5 up:   .6, .68, .744           = 1 - .5·.8^3
    # (0,1) p .5 down: .4, .32, .256           = .5·.8^3
    # (1,0) p .9 up:   .92, .936, .9488        = 1 - .1·.512
    # (1,1) p .1 down: .08, .064, .0512
    a = make_array([[0.0, 0.0], [0.8, -0.8]], device={"levels": 11, "model": "soft_bounds"})
    delta = f32([[0.2, -0.2], [0.2, -0.2]])
    for p in ([[0.6, 0.4], [0.92, 0.08]], [[0.68, 0.32], [0.936, 0.064]], [[0.744, 0.256], [0.9488, 0.0512]]):
        assert np.array_equal(a.write(delta), np.ones((2, 2)))
        assert np.allclose(a.state[0], p, atol=1e-9)
    assert np.allclose(a.value, [[0.488, -0.488], [0.8976, -0.8976]], atol=1e-6)   # w = 2p - 1
    # three pulses in one update give the same closed form 1 - (1-p)(1-2·step)^3
    b = make_array([[0.0, 0.8]], device={"levels": 11, "model": "soft_bounds"})
    assert np.array_equal(b.write(f32([[0.6, 0.6]])), [[3, 3]])
    assert np.allclose(b.state[0], [[1 - 0.5 * 0.8 ** 3, 1 - 0.1 * 0.8 ** 3]], atol=1e-9)


def test_exponential_neurosim_curve_by_hand() -> None:
    # 11 levels: Pmax = 10 pulses. nonlinearity_up 2 -> A_up = 10/2 = 5; nonlinearity_down 1 -> A_dn = 10.
    # Potentiation p(P) = (1 - e^(-P/5)) / (1 - e^(-2)), 1 - e^-2 = 0.864665
    #   from p=0: P = 1, 2, 3 -> .181269/.864665 = .209641, .329680/.864665 = .381281, .451188/.864665 = .521807
    #   from p=.5: P0 = -5 ln(1 - .5·.864665) = 2.831096 -> p(P0+1..3) = .619006, .716441, .796213
    # Depression mirrors it with A_dn: 1 - p = (1 - e^(-P/10)) / (1 - e^(-1)), 1 - e^-1 = .632121
    #   from p=1: 1 - .095163/.632121 = .849455, 1 - .181269/.632121 = .713236, 1 - .259182/.632121 = .589980
    #   from p=.5: P0 = -10 ln(1 - .5·.632121) = 3.798855 -> .397036, .303871, .219571
    e = math.exp
    up = lambda p0, k: (1 - e(-(-5 * math.log(1 - p0 * (1 - e(-2))) + k) / 5)) / (1 - e(-2))          # noqa: E731
    dn = lambda p0, k: 1 - (1 - e(-(-10 * math.log(1 - (1 - p0) * (1 - e(-1))) + k) / 10)) / (1 - e(-1))  # noqa: E731
    table = [[[0.209641, 0.619006], [0.849455, 0.397036]],
             [[0.381281, 0.716441], [0.713236, 0.303871]],
             [[0.521807, 0.796213], [0.589980, 0.219571]]]
    a = make_array([[-1.0, 0.0], [1.0, 0.0]],
                   device={"levels": 11, "model": "exponential", "nonlinearity_up": 2.0, "nonlinearity_down": 1.0})
    delta = f32([[0.2, 0.2], [-0.2, -0.2]])   # one nominal step (0.2) each
    for k, p in enumerate(table, start=1):
        assert np.array_equal(a.write(delta), np.ones((2, 2)))
        assert np.allclose(a.state[0], p, atol=2e-6)
        assert np.allclose(a.state[0], [[up(0.0, k), up(0.5, k)], [dn(1.0, k), dn(0.5, k)]], atol=1e-12)
    # the first step from the bottom is 2.1x the nominal 0.1: the curve is steep there
    assert table[0][0][0] / 0.1 == pytest.approx(2.096, abs=1e-3)


def test_exponential_negative_nonlinearity_accelerates() -> None:
    # ν = -2 -> A = 10/(-2) = -5: p(P) = (1 - e^(P/5)) / (1 - e^2), 1 - e^2 = -6.389056
    # from p=0: (1 - e^.2)/(1 - e^2) = -.221403/-6.389056 = .034653; P=2: .076979; P=3: -.822119/-6.389056 = .128676
    a = make_array([[-1.0]], device={"levels": 11, "model": "exponential", "nonlinearity_up": -2.0})
    for p in (0.034653, 0.076979, 0.128676):
        a.write(f32([[0.2]]))
        assert a.state[0, 0, 0] == pytest.approx(p, abs=2e-6)


def test_exponential_with_zero_nonlinearity_is_linear() -> None:
    a = make_array([[-1.0, 1.0]], device={"levels": 11, "model": "exponential"})
    a.write(f32([[0.6, -0.6]]))   # 3 pulses each way: p 0 -> .3 and 1 -> .7
    assert np.allclose(a.state[0], [[0.3, 0.7]], atol=1e-9)


def test_asymmetry_scales_up_and_down_steps() -> None:
    # asymmetry 0.25: up steps 1.25 x 0.1 = .125, down steps .75 x 0.1 = .075 of the state range
    # three one-step requests from p=.5: up .875 (w .75), down .275 (w -.45); the controller still sends 1/update
    a = make_array([[0.0, 0.0]], device={"levels": 11, "asymmetry": 0.25})
    for _ in range(3):
        assert np.array_equal(a.write(f32([[0.2, -0.2]])), [[1, 1]])
    assert np.allclose(a.state[0], [[0.875, 0.275]], atol=1e-9)
    assert np.allclose(a.value, [[0.75, -0.45]], atol=1e-6)


# ---------------------------------------------------------------------------------------------- pair encoding

def test_pair_increase_potentiates_g_plus_and_decrease_potentiates_g_minus() -> None:
    # pair over [-1, 1], 9 levels: one pulse = w_max/8 = 0.125 of weight (exact in binary)
    a = make_array([[0.375, -0.25], [0.0, 0.875]], device={"levels": 9}, encoding="pair")
    assert a.step_w == 0.125
    assert np.array_equal(a.state[0], [[0.375, 0.0], [0.0, 0.875]])   # G+
    assert np.array_equal(a.state[1], [[0.0, 0.25], [0.0, 0.0]])       # G-
    delta = f32([[0.125, 0.125], [-0.125, 0.125]])
    for _ in range(3):
        assert np.array_equal(a.write(delta), np.ones((2, 2)))
    # (0,0) G+ .375 -> .75; (0,1) G+ 0 -> .375 with G- .25 kept: w .125; (1,0) G- 0 -> .375: w -.375;
    # (1,1) G+ .875 -> 1 and stays clipped at 1 (w = w_max)
    assert np.allclose(a.state[0], [[0.75, 0.375], [0.0, 1.0]], atol=1e-12)
    assert np.allclose(a.state[1], [[0.0, 0.25], [0.375, 0.0]], atol=1e-12)
    assert np.allclose(a.value, [[0.75, 0.125], [-0.375, 1.0]], atol=1e-7)
    assert np.array_equal(a.writes, [[[3, 3], [0, 3]], [[0, 0], [3, 0]]])
    # a decrease never depresses G+: it potentiates G-. (0,0): G- 0 -> .25 (2 pulses), G+ stays .75
    assert int(a.write(f32([[-0.25, 0.0], [0.0, 0.0]]))[0, 0]) == 2
    assert a.state[0, 0, 0] == 0.75 and a.state[1, 0, 0] == pytest.approx(0.25)
    assert a.value[0, 0] == pytest.approx(0.5)
    assert a.writes[1, 0, 0] == 2 and a.writes[0, 0, 0] == 3


def test_analog_pair_takes_the_exact_change_on_the_right_device() -> None:
    a = make_array([[0.2]], encoding="pair")
    assert int(a.write(f32([[-0.5]]))[0, 0]) == 1
    assert a.state[:, 0, 0] == pytest.approx([0.2, 0.5])
    assert a.value[0, 0] == pytest.approx(-0.3)


# ---------------------------------------------------------------------------------------------------- analog

def test_analog_one_pulse_per_changed_weight_exact_value_and_clipping() -> None:
    a = make_array([[0.1, 0.0], [0.9, -0.5]])           # levels: null
    assert a.step_w is None
    delta = f32([[0.05, 0.0], [0.05, -0.2]])
    # (0,0): .15, .2, .25 exactly; (0,1) unchanged, no pulse; (1,0): .95, 1.0, 1.0 (clipped at w_max);
    # (1,1): -.7, -.9, -1.0 (-1.1 clipped at w_min)
    for values in ([[0.15, 0.0], [0.95, -0.7]], [[0.2, 0.0], [1.0, -0.9]], [[0.25, 0.0], [1.0, -1.0]]):
        assert np.array_equal(a.write(delta), [[1, 0], [1, 1]])
        assert np.allclose(a.value, values, atol=1e-6)
    assert np.array_equal(a.writes[0], [[3, 0], [3, 3]])
    row = make_array([[0.1, 0.0], [0.9, -0.5]])
    assert np.array_equal(row.write(f32([[0.05, 0.0]])), [[1, 0], [1, 0]])  # a row of changes broadcasts
    assert np.allclose(row.value, [[0.15, 0.0], [0.95, -0.5]], atol=1e-6)


def test_analog_with_range_variation_is_exact_and_clips_at_its_own_range() -> None:
    # analog with device-to-device range variation (the general path): a change lands exactly (it is scaled by
    # the device's own gain), and the device saturates at its own top, w = (1 - 1/2)·2·gain = gain
    a = make_array(np.zeros((2, 2)), device={"range_variation": 0.2}, seed=1)
    assert not np.all(a.gain == 1.0)
    for k in (1, 2, 3):
        assert np.array_equal(a.write(np.full((2, 2), 0.3, np.float32)), np.ones((2, 2)))
        assert np.allclose(a.value, np.minimum(0.3 * k, a.gain[0]), atol=1e-6)
    assert (a.gain[0] < 0.9).any()               # at least one device did saturate below 0.9


# --------------------------------------------------------------------------------------------- noise, variation

def test_write_noise_std_is_noise_times_step_times_sqrt_pulses() -> None:
    n = 200
    device = {"levels": 129, "write_noise": 0.5}      # step 1/128 of state, 1/64 of weight
    step = 1 / 64
    four = make_array(np.zeros((n, n)), device=device)
    assert np.array_equal(four.write(np.full((n, n), 4 * step, np.float32)), np.full((n, n), 4))
    # state std 0.5 · (1/128) · sqrt(4) = 1/128 -> weight std 2/128 = 1/64 around 4 steps (1/16)
    change = four.value.astype(np.float64)
    assert change.mean() == pytest.approx(4 * step, abs=5e-4)
    assert change.std() == pytest.approx(step, rel=0.03)
    one = make_array(np.zeros((n, n)), device=device)
    one.write(np.full((n, n), step, np.float32))
    assert one.value.astype(np.float64).std() == pytest.approx(step / 2, rel=0.03)   # sqrt(1): half of sqrt(4)
    # cycle to cycle: a fresh draw every write
    before = one.value.copy()
    one.write(np.full((n, n), step, np.float32))
    step2 = (one.value - before).astype(np.float64)
    assert step2.std() == pytest.approx(step / 2, rel=0.03)
    assert abs(np.corrcoef(step2.ravel(), before.ravel())[0, 1]) < 0.03


def test_step_and_range_variation_fixed_per_seed_mean_one() -> None:
    n = 100
    device = {"levels": 11, "step_variation": 0.1, "range_variation": 0.2}
    a = make_array(np.zeros((n, n)), device=device, seed=7)
    b = make_array(np.zeros((n, n)), device=device, seed=7, noise_seed=999)
    c = make_array(np.zeros((n, n)), device=device, seed=8)
    assert np.array_equal(a.gain, b.gain) and np.array_equal(a.step_scale, b.step_scale)
    assert not np.array_equal(a.gain, c.gain) and not np.array_equal(a.step_scale, c.step_scale)
    for array, sigma in ((a.gain, 0.2), (a.step_scale, 0.1)):
        assert array.mean() == pytest.approx(1.0, abs=0.01)
        assert array.std() == pytest.approx(sigma, rel=0.05)
    # one nominal pulse moves the state by 0.1·step_scale and the weight by that times range·gain:
    # w = (p - 1/2)·2·gain = 0.2·step_scale·gain (the initial w = 0 sits at p = 1/2 whatever the gain)
    for x in (a, b):
        x.write(np.full((n, n), 0.2, np.float32))
    assert np.allclose(a.state[0], 0.5 + 0.1 * a.step_scale[0], atol=1e-12)
    assert np.allclose(a.value, 0.2 * a.step_scale[0] * a.gain[0], atol=1e-6)
    assert np.array_equal(a.value, b.value)            # same chip instance, same result
    assert a.value.std() > 0.04                        # the open-loop write spreads the weights (~0.2·0.22)


def test_read_noise_is_fresh_at_every_read() -> None:
    n = 200
    a = make_array(np.zeros((n, n)), device={"read_noise": 0.05})   # std 0.05 x range 2 = 0.1
    first, second = a.read(0), a.read(1)
    assert not np.array_equal(first, second)
    for r in (first, second):
        assert r.astype(np.float64).std() == pytest.approx(0.1, rel=0.03)
        assert r.astype(np.float64).mean() == pytest.approx(0.0, abs=0.002)
    assert np.array_equal(a.value, np.zeros((n, n), np.float32))   # reading does not disturb the state
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.03
    quiet = make_array(np.zeros((2, 2)))
    assert quiet.read(0) is quiet.value
    assert np.array_equal(a.read(1), second)              # a read is a function of its number: no state


# ------------------------------------------------------------------------------------------ endurance, failure

@pytest.mark.parametrize("mode,stays", [("stuck", 0.6), ("low", -1.0), ("high", 1.0)])
def test_endurance_three_fails_at_third_pulse(mode: str, stays: float) -> None:
    a = make_array(np.zeros((2, 2)), device={"levels": 11, "endurance_cycles": 3, "failure_mode": mode})
    delta = f32([[0.2, 0.0], [-0.2, 0.0]])      # one pulse per update to the left column
    a.write(delta)
    a.write(delta)
    assert not a.failed.any()
    assert np.allclose(a.value, [[0.4, 0.0], [-0.4, 0.0]], atol=1e-6)
    a.write(delta)                               # the 3rd pulse lands, then the device is worn out
    assert np.array_equal(a.failed[0], [[True, False], [True, False]])
    stuck_low = {"stuck": -0.6, "low": -1.0, "high": 1.0}[mode]
    assert np.allclose(a.value, [[stays, 0.0], [stuck_low, 0.0]], atol=1e-6)
    for _ in range(2):                           # further pulses are sent (and counted) but change nothing
        assert np.array_equal(a.write(delta), [[1, 0], [1, 0]])
        assert np.allclose(a.value, [[stays, 0.0], [stuck_low, 0.0]], atol=1e-6)
    assert np.array_equal(a.writes[0], [[5, 0], [5, 0]])


def test_pair_failure_is_per_device() -> None:
    # G+ of a pair wears out at low conductance; G- still works
    a = make_array([[0.5]], device={"levels": 9, "endurance_cycles": 3, "failure_mode": "low"}, encoding="pair")
    for _ in range(3):
        a.write(f32([[0.125]]))                  # G+ .5 -> .875, fails at its 3rd pulse -> 0
    assert a.failed[:, 0, 0].tolist() == [True, False]
    assert a.value[0, 0] == 0.0
    a.write(f32([[-0.125]]))                     # G- 0 -> .125
    assert a.value[0, 0] == -0.125
    a.write(f32([[0.375]]))                      # 3 pulses to the dead G+: no change
    assert a.value[0, 0] == -0.125
    assert a.writes[:, 0, 0].tolist() == [6, 1]


@pytest.mark.parametrize("mode,stays", [("stuck", 0.3), ("low", -1.0), ("high", 1.0)])
def test_analog_device_endurance_and_failure(mode: str, stays: float) -> None:
    # analog single devices without noise (the ideal write path): one pulse per changed weight
    a = make_array([[0.0, 0.0]], device={"endurance_cycles": 3, "failure_mode": mode})
    for k, value in ((1, 0.1), (2, 0.2), (3, stays), (4, stays), (5, stays)):
        assert np.array_equal(a.write(f32([[0.1, 0.0]])), [[1, 0]])
        assert a.failed[0, 0].tolist() == [k >= 3, False]
        assert np.allclose(a.value, [[value, 0.0]], atol=1e-6)
    assert a.writes[0].tolist() == [[5, 0]]


def test_pulses_past_the_endurance_limit_in_one_update_do_not_land() -> None:
    # endurance 3, stuck: one update of 5 steps. The device survives 3 pulses (state .5 -> .8, w .6) and is
    # worn out for the 4th and 5th; the code moves it the full 5 steps (w 1.0) and only then marks it failed.
    a = make_array([[0.0]], device={"levels": 11, "endurance_cycles": 3, "failure_mode": "stuck"})
    assert int(a.write(f32([[1.0]]))[0, 0]) == 5
    assert bool(a.failed[0, 0, 0])
    assert a.value[0, 0] == pytest.approx(0.6)


def test_endurance_spread_gives_per_device_limits() -> None:
    n = 40
    device = {"levels": 1001, "endurance_cycles": 10, "endurance_spread": 0.5}
    a = make_array(np.zeros((n, n)), device=device, seed=3)
    # the only variation drawn: limit = 10·exp(0.5·z), z ~ N(0,1) from the chip's variation stream
    z = np.random.default_rng(3).standard_normal((1, n, n))
    assert np.allclose(a.endurance, 10 * np.exp(0.5 * z))
    assert np.log(a.endurance).std() == pytest.approx(0.5, rel=0.07)
    assert np.array_equal(make_array(np.zeros((n, n)), device=device, seed=3).endurance, a.endurance)
    delta = np.full((n, n), 0.002, np.float32)    # one pulse per update (step 2/1000)
    for k in range(1, 31):
        a.write(delta)
        assert np.array_equal(a.failed, k >= a.endurance)   # each device fails at its own limit
    assert 0.05 < a.failed.mean() < 0.995          # by now some, not all, of the spread limits are reached
    assert np.array_equal(a.writes, np.full((1, n, n), 30))


def test_pair_refresh_by_hand() -> None:
    # 9 levels (step .125), refresh at .8. G+ .5; a decrease of .25 potentiates G- to .25 (2 pulses);
    # an increase of .5 takes G+ to 1.0 (4 pulses) -> G+ >= .8 while G- > 0: reset both (2 pulses) and
    # reprogram w = .75 onto G+ (6 pulses): 4 + 2 + 6 = 12 pulses; wear G+ 4+1+6 = 11 in this update, G- 1
    a = make_array([[0.5]], device={"levels": 9}, encoding="pair", refresh_threshold=0.8)
    assert int(a.write(f32([[-0.25]]))[0, 0]) == 2
    assert int(a.write(f32([[0.5]]))[0, 0]) == 12
    assert a.state[:, 0, 0].tolist() == [0.75, 0.0]
    assert a.value[0, 0] == 0.75
    assert a.writes[:, 0, 0].tolist() == [11, 3]
    assert int(a.writes.sum()) == 2 + 12                   # wear adds up to the pulses sent


def test_analog_pair_refresh_wear_equals_pulses() -> None:
    # G+ .5, G- .5 (w 0); +.4 -> G+ .9 (1 pulse) >= .8 with G- > 0 -> refresh: w .4 onto G+:
    # 2 resets + 1 programming pulse; pulses 1 + 3 = 4, and the device wear should grow by 4 as well
    a = make_array([[0.5]], encoding="pair", refresh_threshold=0.8)
    a.write(f32([[-0.5]]))
    before = int(a.writes.sum())
    sent = int(a.write(f32([[0.4]]))[0, 0])
    assert a.value[0, 0] == pytest.approx(0.4) and a.state[1, 0, 0] == 0.0
    assert sent == 4
    assert int(a.writes.sum()) - before == sent
    assert a.writes[:, 0, 0].tolist() == [3, 2]          # G+: pulse, reset, program; G-: pulse, reset


# ------------------------------------------------------------------------------------------- training wear-out

COMMON = ("train.eval_interval=500", "train.eval_size=500")


@pytest.fixture(scope="module")
def durable_run() -> dict:
    return Simulation(config_with(*COMMON), iterations=2000).run().summary


@pytest.mark.parametrize("mode", ["low", "stuck"])
def test_tiny_endurance_loses_devices_and_accuracy(mode: str, durable_run: dict) -> None:
    """Analog weights written at every update (τθ = 1): with 50 cycles of endurance every device is worn out
    after 50 iterations. Worn out low, every weight reads w_min = -1 and the network is constant (one class:
    chance on the four letters); stuck, the weights freeze after 50 small updates, barely trained. The same
    run at 1e9 cycles learns."""
    good = durable_run
    sim = Simulation(config_with(*COMMON, "chip.weights.device.endurance_cycles=50",
                                 f"chip.weights.device.failure_mode={mode}"), iterations=2000)
    worn = sim.run()
    bad = worn.summary
    assert good.failed_devices == 0 and good.best_test_accuracy >= 0.95
    assert bad.failed_devices == bad.devices == 868                # all 49·16+16 + 16·4+4 devices
    assert all(f.all() for f in worn.failed)
    assert [layer["failed"] for layer in bad.wear_by_layer] == [800, 68]
    if mode == "low":
        assert all(np.all(w == -1.0) and np.all(b == -1.0) for w, b in sim.chip.weights())
    assert bad.weight_writes_max_per_device > 50                      # pulses keep being sent after failure
    assert bad.best_test_accuracy <= 0.4 and bad.test_accuracy <= 0.4
    assert good.test_accuracy - bad.test_accuracy >= 0.5
