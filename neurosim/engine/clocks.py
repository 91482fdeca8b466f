"""Clock domains on a SimPy Environment whose time unit is one clock cycle.

Each domain (sample, perturbation, inference, update, evaluation...) is one SimPy process that fires every
``period`` cycles. Domains that fire in the same cycle run in a fixed order given by their ``phase``
(a fraction of the cycle), like the phases of a multi-phase clock, so the order never depends on process
creation order and runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import simpy


@dataclass(frozen=True)
class ClockDomain:
    name: str
    period: int                       # cycles between firings
    phase: float                      # order within a cycle, 0 <= phase < 1
    action: Callable[[int], None]     # called with the cycle index; acts on whole arrays
    first: int = 0                    # cycle of the first firing


class Engine:
    """Runs clock domains cycle by cycle; ``run_until`` may be called repeatedly to advance in stretches.

    With a ``stretch`` callable (start cycle, number of cycles), a stretch that holds nothing but the
    periodic ticks is handed to that one (compiled) call instead of being stepped event by event; the
    procedure guarantees the result is bit-identical.
    """

    def __init__(self, domains: Sequence[ClockDomain],
                 stretch: Callable[[int, int], None] | None = None, start: int = 0) -> None:
        for domain in domains:
            if domain.period < 1 or not 0.0 <= domain.phase < 1.0:
                raise ValueError(f"clock domain {domain.name}: bad period or phase")
        self.env = simpy.Environment(initial_time=start)
        self.domains = tuple(domains)
        self.events = 0
        self.stretch = stretch
        self.done = start  # cycles completed in stretch mode
        if stretch is None:
            for domain in self.domains:
                self.env.process(self._clock(domain))

    def _clock(self, domain: ClockDomain) -> Generator[simpy.Event, None, None]:
        start = int(self.env.now)
        cycle = domain.first
        if start > cycle:  # resuming: the first firing at or after the start
            cycle += -(-(start - cycle) // domain.period) * domain.period
        yield self.env.timeout(cycle - start + domain.phase)
        while True:
            domain.action(cycle)
            self.events += 1
            cycle += domain.period
            yield self.env.timeout(domain.period)

    def run_until(self, cycles: int) -> None:
        """Advance until ``cycles`` whole cycles have run (every domain firing in them has fired)."""
        if self.stretch is not None:
            if cycles > self.done:
                self.stretch(self.done, cycles - self.done)
                self.events += 1
                self.done = cycles
            return
        if cycles > self.env.now:
            self.env.run(until=cycles)
