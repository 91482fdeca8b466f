"""The SimPy clock domains: firing periods, phase order within a cycle, stretches."""

from __future__ import annotations

from neurosim.engine.clocks import ClockDomain, Engine


def record(log: list, name: str):
    return lambda cycle: log.append((cycle, name))


def test_domains_fire_at_their_periods_in_phase_order() -> None:
    log: list = []
    engine = Engine([
        ClockDomain("update", 3, 0.75, record(log, "update"), first=2),
        ClockDomain("sample", 2, 0.0, record(log, "sample")),
        ClockDomain("infer", 1, 0.5, record(log, "infer")),
    ])
    engine.run_until(6)
    assert log == [
        (0, "sample"), (0, "infer"), (1, "infer"), (2, "sample"), (2, "infer"), (2, "update"),
        (3, "infer"), (4, "sample"), (4, "infer"), (5, "infer"), (5, "update"),
    ]
    assert engine.events == len(log)


def test_running_in_stretches_equals_one_run() -> None:
    one: list = []
    Engine([ClockDomain("a", 2, 0.1, record(one, "a")), ClockDomain("b", 3, 0.2, record(one, "b"))]).run_until(50)
    many: list = []
    engine = Engine([ClockDomain("a", 2, 0.1, record(many, "a")), ClockDomain("b", 3, 0.2, record(many, "b"))])
    for stop in (7, 7, 20, 33, 50):
        engine.run_until(stop)
    assert many == one
