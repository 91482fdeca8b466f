"""Profile the compiled kernels with Linux perf, by name: run a chip and workload (NIST7x7 by default) for a
number of iterations and leave perf a map of where each compiled function lies, which numba does not write.

    perf record -F 4000 -o perf.data python tools/profile_kernels.py chips/reram.yaml --cycles 200000
    perf report -i perf.data --stdio | grep JIT
    NEUROSIM_DATA=../shared/data perf record -F 4000 -o perf.data python tools/profile_kernels.py \
        chips/ideal.yaml --workload workloads/fashion-cnn.yaml --set mgd.mode=paper --set network.width=1 \
        --cycles 2000 --warm-up 20

numba keeps a function's machine code but not its module once it loads the function from its disk cache, and
the map needs the module's function names: so this compiles into an empty cache of its own (a minute or two)
before it runs. The map (``/tmp/perf-PID.map``, perf's convention for code made at run time) names every
compiled function, the inlined ones inside their callers, and numba's reference counting (``NRT_incref``,
``NRT_decref``), which is how the twelfth session found the counts that took a third of a cycle.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="neurosim-profile-")  # before numba loads
sys.path.insert(0, str(REPO))

import importlib  # noqa: E402
import pkgutil  # noqa: E402

import numba  # noqa: E402

import neurosim.kernels  # noqa: E402
from bench_chip_cycles import WARM_UP, cpu_us_per_cycle  # noqa: E402  (tools/, this script's folder)


def compiled_functions() -> list[tuple[int, str]]:
    """(address, name) of every function in the compiled libraries of neurosim's kernels, sorted."""
    found = set()
    for info in pkgutil.iter_modules(neurosim.kernels.__path__):
        module = importlib.import_module(f"neurosim.kernels.{info.name}")
        for name, dispatcher in vars(module).items():
            if not isinstance(dispatcher, numba.core.registry.CPUDispatcher):
                continue
            for result in dispatcher.overloads.values():
                entry = result.fndesc.llvm_func_name
                names = [entry] + [f.name for f in result.library._final_module.functions if not f.is_declaration]
                for symbol in names:
                    address = result.library.get_pointer_to_function(symbol)
                    if address:
                        found.add((address, f"{info.name}.{name}" if symbol == entry else symbol[:80]))
    return sorted(found)


def write_perf_map(functions: list[tuple[int, str]]) -> Path:
    """perf's map of run-time code: each function from its address to the next one's (64 KB at most)."""
    path = Path(f"/tmp/perf-{os.getpid()}.map")
    with path.open("w") as out:
        for i, (address, name) in enumerate(functions):
            size = functions[i + 1][0] - address if i + 1 < len(functions) else 0x10000
            out.write(f"{address:x} {min(size, 0x10000):x} {name}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chip", type=Path)
    parser.add_argument("--workload", type=Path, default=REPO / "workloads/nist7x7.yaml")
    parser.add_argument("--set", action="append", default=[], help="a workload or chip key, as for `train`")
    parser.add_argument("--cycles", type=int, default=200_000, help="iterations (cycles in chip mode) timed")
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="iterations run first (they compile)")
    args = parser.parse_args()
    per_cycle_us = cpu_us_per_cycle(args.chip, args.workload, args.cycles, tuple(args.set), args.warm_up)
    path = write_perf_map(compiled_functions())
    print(f"{args.chip.name}, {args.workload.name}: {per_cycle_us:.2f} µs of CPU an iteration over {args.cycles:,}; "
          f"map in {path}")


if __name__ == "__main__":
    main()
