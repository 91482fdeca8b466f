"""Why a training did not learn: a warning with the likely cause and what to try, from the run's summary.

A chip that does not learn otherwise fails silently: the run ends, prints an accuracy near chance and says
nothing about why. ``neurosim train`` and ``neurosim study tau-theta`` both call :func:`diagnose` on a
finished run's summary (and the config it ran), so the two say the same thing in the same words.

A run is flagged when it **ends near chance** (less than a quarter of the way from chance, 1/classes, to
100%: 43.75% for 4 classes) or **with most of its devices failed**. The causes looked for, each from
figures the summary already holds:

- *endurance exhausted*: devices failed during the training;
- *updates below one device step*: on a device with finite levels the controller sends whole steps, so a
  run whose devices took far less than one pulse per weight per update was asking for changes smaller than
  one step (they wait in the residual, or are rounded away); a measured typical request, when the caller
  has one, sizes the learning rate it proposes;
- *learning rate beyond the weight range*: updates that move a weight by a tenth of its range or more, or
  most weights pinned at the ends of the range;
- *a noisy gradient estimate*: with K perturbed elements and a short τθ, each update follows mostly noise
  (noise about K/τθ times the signal, the paper's Eq. 21);
- *write noise*: every pulse adds noise of a device step or more, so many small writes random-walk the
  weights (the ReRAM case: fewer, larger writes, i.e. a larger τθ, help).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from neurosim.results import TrainingSummary

NEAR_CHANCE_FRACTION = 0.25   # "near chance": below chance + this fraction of the way from chance to 100%
MOST_FAILED_FRACTION = 0.5    # "most devices failed"
SUB_STEP_RATE = 0.5           # pulses per weight per update below which requests were mostly sub-step
LARGE_UPDATE_FRACTION = 0.1   # an update moving a weight by this fraction of its range is "beyond the range"
NOISY_ESTIMATE_RATIO = 100    # K/τθ at or above which an update is mostly noise (the paper's Eq. 21)
AT_BOUND_FRACTION = 0.5       # weights within 1% of an end of the range, above which the range is saturated


@dataclass(frozen=True)
class Cause:
    """One likely reason, the numbers behind it, and what to try."""

    cause: str
    detail: str
    advice: str


@dataclass(frozen=True)
class Diagnosis:
    """A warning about one finished training: the problem and its likely causes."""

    problem: str
    causes: tuple[Cause, ...]

    def line(self) -> str:
        """The warning as one line, as the commands print it."""
        if not self.causes:
            return f"warning: {self.problem}"
        why = "; ".join(f"{c.cause} ({c.detail}); try {c.advice}" for c in self.causes)
        return f"warning: {self.problem}. Likely: {why}"

    def as_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "causes": [asdict(c) for c in self.causes], "message": self.line()}


def device_step_w(config: Any) -> float | None:
    """Weight change of one nominal device step (as ``DeviceArray.step_w``); None for an analog device."""
    weights = config.chip.weights
    levels = weights.device.levels
    if levels is None:
        return None
    span = weights.w_max if weights.encoding == "pair" else weights.w_max - weights.w_min
    return span / (levels - 1)


def chance_accuracy(classes: int) -> float:
    return 1.0 / max(classes, 1)


def near_chance_limit(classes: int) -> float:
    chance = chance_accuracy(classes)
    return chance + NEAR_CHANCE_FRACTION * (1.0 - chance)


def pulses_per_weight_update(summary: TrainingSummary) -> float | None:
    """Mean write pulses per weight per update over the training (None when nothing was updated)."""
    updates = summary.events.get("updates") or 0
    if updates <= 0 or summary.parameters <= 0:
        return None
    return summary.weight_writes_total / (updates * summary.parameters)


def fraction_at_bounds(weights: list[tuple[np.ndarray, np.ndarray]], w_min: float, w_max: float) -> float:
    """Share of weights within 1% of the range of either end (a saturated range)."""
    margin = 0.01 * (w_max - w_min)
    values = np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in weights])
    if values.size == 0:
        return 0.0
    return float(np.mean((values <= w_min + margin) | (values >= w_max - margin)))


def diagnose(summary: TrainingSummary, config: Any, classes: int, *, requested_update_w: float | None = None,
             at_bounds: float | None = None) -> list[Diagnosis]:
    """The warnings for one finished training (empty when it learned).

    ``requested_update_w``: a measured typical |Δw| the optimizer asked for per update (the tau-theta study
    measures one); ``at_bounds``: the share of weights at the ends of their range at the end (``train``
    has the chip's weights). Either makes the causes sharper; without them the summary alone is used.
    """
    accuracy, devices, failed = summary.test_accuracy, summary.devices, summary.failed_devices
    problems = []
    if accuracy is not None and accuracy <= near_chance_limit(classes):
        chance = chance_accuracy(classes)
        best = summary.best_test_accuracy
        best_text = f", best {best:.1%}" if best is not None and best > accuracy else ""
        problems.append(f"this training did not learn: test accuracy {accuracy:.1%}{best_text}, near chance "
                        f"({chance:.0%} for {classes} classes)")
    if devices and failed > MOST_FAILED_FRACTION * devices:
        problems.append(f"most devices failed during the training: {failed} of {devices}")
    if not problems:
        return []
    return [Diagnosis(" and ".join(problems), tuple(_causes(summary, config, requested_update_w, at_bounds)))]


def _causes(summary: TrainingSummary, config: Any, requested: float | None, at_bounds: float | None) -> list[Cause]:
    weights = config.chip.weights
    device = weights.device
    mgd = config.workload.mgd
    lr = mgd.learning_rate
    span = weights.w_max - weights.w_min
    step = device_step_w(config)
    rate = pulses_per_weight_update(summary)
    causes: list[Cause] = []
    failed = summary.failed_devices
    if failed:
        causes.append(Cause(
            "endurance exhausted",
            f"{failed} of {summary.devices} devices failed; up to "
            f"{summary.weight_writes_max_per_device} pulses per device against an endurance of "
            f"{device.endurance_cycles:.3g}",
            "a larger τθ, which writes less per training (neurosim study tau-theta CHIP WORKLOAD), or a device "
            "with more endurance"))
    large = False
    if requested is not None:
        large = requested >= LARGE_UPDATE_FRACTION * span
        detail = f"a typical update asks for |Δw| = {requested:.3g}, {requested / span:.0%} of the range"
    elif at_bounds is not None and at_bounds >= AT_BOUND_FRACTION:
        large = True
        detail = f"{at_bounds:.0%} of the weights ended at the ends of the range [{weights.w_min:g}, {weights.w_max:g}]"
    elif step is not None and rate is not None and rate * step >= LARGE_UPDATE_FRACTION * span:
        large = True
        detail = f"{rate:.3g} pulses per weight per update, {rate * step / span:.0%} of the range each"
    if large:
        causes.append(Cause("learning rate beyond the weight range", detail,
                            f"a smaller learning rate, e.g. mgd.learning_rate={lr / 10:.3g}"))
    if step is not None and not large:
        # the whole run's pulse rate decides (a measured request covers only the first updates); the
        # measured request, when there is one, sizes the proposal
        sub = None
        if rate is not None and rate < SUB_STEP_RATE:
            sub = (f"{rate:.3g} pulses per weight per update against a device step of Δw = {step:.3g}, so most "
                   "requested changes were smaller than one step", 1.0 / max(rate, 1e-3))
            if requested is not None and 0 < requested < step:
                sub = (f"{sub[0]} (a typical early update asked for |Δw| = {requested:.3g})", step / requested)
        elif rate is None and requested is not None and 0 < requested < step:
            sub = (f"a typical update asks for |Δw| = {requested:.3g}, {requested / step:.2g} of one device step "
                   f"(Δw = {step:.3g})", step / requested)
        if sub is not None:
            detail, factor = sub
            where = "wait in the residual" if weights.write.rounding == "accumulate" else "are rounded away"
            measured = requested is not None and 0 < requested < step
            if rate == 0 and not measured:  # no pulse at all: nothing to size a learning rate by
                advice = ("a larger learning rate; the step check of neurosim study tau-theta CHIP WORKLOAD "
                          "measures the requested update against the step and proposes one")
                detail = (f"not one pulse in {summary.events.get('updates')} updates against a "
                          f"device step of Δw = {step:.3g}")
            else:
                advice = (f"a learning rate about {factor:.2g}x larger (mgd.learning_rate={lr * factor:.3g}) so that "
                          "a typical update is a step, or compare several with neurosim study tau-theta "
                          "--grid mgd.learning_rate=[...]")
            causes.append(Cause("updates below one device step", f"{detail}; they {where}", advice))
    if step is not None and device.write_noise >= 1.0 and rate is not None and rate > 0:
        pulses = summary.weight_writes_total / max(summary.parameters, 1)
        causes.append(Cause(
            "write noise",
            f"every pulse adds noise of σ = {device.write_noise:g} device steps, and each weight took "
            f"{pulses:.3g} pulses on average (a random walk of about {device.write_noise * math.sqrt(pulses):.3g} "
            "steps)",
            "fewer, larger writes: a larger τθ (neurosim study tau-theta CHIP WORKLOAD)"))
    k = _perturbed_elements(config)
    tau = summary.tau_theta
    if k is not None and k / tau >= NOISY_ESTIMATE_RATIO:
        causes.append(Cause(
            "a noisy gradient estimate",
            f"each update averages τθ = {tau} perturbations, and one perturbation's estimate carries noise about "
            f"K - 1 = {k - 1} times its signal (K = {k} perturbed elements), so most writes follow noise",
            f"a larger τθ (at least {_round_up_decade(k / NOISY_ESTIMATE_RATIO)}), which averages the noise "
            "before writing"))
    if not causes:
        causes.append(Cause("no single cause in the summary", "the writes, wear and step size look ordinary",
                            "the τθ study with learning rates beside it (neurosim study tau-theta CHIP WORKLOAD "
                            "--grid mgd.learning_rate=[...]) or more iterations"))
    return causes


def _perturbed_elements(config: Any) -> int | None:
    """K: the weights (weight perturbation) or nodes (node perturbation) perturbed at once; None for backprop
    and for paper mode, whose layer-by-layer estimate has its own K per layer."""
    mgd = config.workload.mgd
    from neurosim.model import build, strategy
    if not strategy(mgd).perturbs or mgd.mode != "chip":
        return None

    model = build(config)
    return model.strategy.total(model.net)


def _round_up_decade(value: float) -> int:
    return int(10 ** math.ceil(math.log10(max(value, 1.0))))


__all__ = ["Cause", "Diagnosis", "chance_accuracy", "device_step_w", "diagnose", "fraction_at_bounds",
           "near_chance_limit", "pulses_per_weight_update"]
