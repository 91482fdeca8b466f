"""Reading chip and workload files, applying ``--set`` overrides, and validating once.

A chip file holds one top-level ``chip:`` section; a workload file is flat. ``--set KEY=VALUE`` addresses
the workload by dotted path (``network.width=8``) and the chip when the path starts with ``chip.``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurosim.errors import ConfigError
from neurosim.spec.chip import ChipSpec
from neurosim.spec.fields import build, shorthand_of, to_plain
from neurosim.spec.workload import WorkloadSpec


logger = logging.getLogger("neurosim")

# A chip or workload file is a few kilobytes; these bounds stop a hostile file before it eats time or memory.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_YAML_VALUES = 100_000  # values after every alias is expanded (an "alias bomb" expands exponentially)


class YAMLTooLarge(Exception):
    """A document whose aliases expand beyond MAX_YAML_VALUES values, or refer to themselves."""


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded, counted on the node graph (shared
    nodes once per reference) without expanding it; stops at the first count above the bound."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YAMLTooLarge("an alias refers to the collection that holds it (a recursive alias)")
        total = 1
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            open_nodes.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [child for pair in node.value for child in pair]
            for child in children:
                total += size(child)
                if total > MAX_YAML_VALUES:
                    raise YAMLTooLarge(f"its aliases expand to more than {MAX_YAML_VALUES} values (an alias bomb?)")
            open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent last-one-wins hides typos) and documents whose
    aliases expand past MAX_YAML_VALUES values (checked on the node graph, before anything is built)."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node)
        return node


def _mapping_no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # a ``<<: *anchor`` merge key: SafeLoader's construct_mapping resolves it
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            continue  # construct_mapping reports it as a ConstructorError ("found unhashable key")
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_no_duplicates)


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(str(path), None, f"expected a configuration file of at most {MAX_FILE_BYTES // 1024**2} "
                              "MiB; this one is larger")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"could not read the file ({exc})") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str, key: str | None = None) -> Any:
    """Parse YAML text (a file's, or a --set value's); anything malformed or oversized is a ConfigError."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except YAMLTooLarge as exc:
        raise ConfigError(source, key, f"refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, key, f"malformed YAML{where}: {problem}") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4300-digit conversion limit
        raise ConfigError(source, key, f"malformed YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(source, key, "malformed YAML: nested too deeply") from None


@dataclass(frozen=True)
class Override:
    key: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError("--set", text, "expected KEY=VALUE with a dotted KEY such as network.width=8")
        if "[" in key or "]" in key:  # no key has brackets: it would become a new key named like a list entry
            raise ConfigError("--set", text, "a list entry cannot be set on its own; set the whole list, e.g. "
                                             "network.layers=[{conv: 8}, {pool: 2}, flatten, {dense: classes}]")
        try:
            value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else None  # noqa: S506
        except YAMLTooLarge as exc:
            raise ConfigError("--set", key, f"refused: {exc}") from None
        except (yaml.YAMLError, ValueError, RecursionError):
            value = raw  # not YAML: the text itself (the field then says what it expected)
        return cls(key, value)


def apply_overrides(data: Any, overrides: Iterable[Override], file: str, spec: type | None = None) -> Any:
    """Set each dotted key in a copy of the parsed YAML, creating sections as needed. A section written in its
    shorthand (``loss: mse`` in a workload, ``spec`` its dataclass) opens to its mapping (``{kind: mse}``), so
    that a key below it can be set."""
    data = _deep_copy(data)
    for override in overrides:
        parts = override.key.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            shorthand = None if spec is None or isinstance(child, dict) else shorthand_of(spec, parts[:depth + 1])
            if shorthand is not None:
                child = node[part] = {shorthand: child}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(file, where, f"--set {override.key}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = override.value
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


@dataclass(frozen=True)
class RunConfig:
    """A validated chip and workload pair, with the files they came from."""

    chip: ChipSpec
    workload: WorkloadSpec
    chip_file: str
    workload_file: str

    def as_plain(self) -> dict[str, Any]:
        return {"chip": to_plain(self.chip), "workload": to_plain(self.workload)}


def load_chip(path: str | Path, overrides: Iterable[Override] = ()) -> ChipSpec:
    """A chip file with its bases laid under it and ``--set chip...`` over it. ``--set chip.base=FILE``
    replaces the file's base (a path relative to the chip file, as written in it; null: none). A bad value
    is reported in the file it was written in, a base file included."""
    overrides = list(overrides)
    base = [o.value for o in overrides if o.key == "chip.base"]
    section, origins = _chip_section(Path(path), (), base[-1] if base else _NO_BASE)
    data = apply_overrides({"chip": section}, [o for o in overrides if o.key != "chip.base"], str(path))
    try:
        return build(ChipSpec, data["chip"], str(path), "chip")
    except ConfigError as exc:
        origin = _origin(origins, exc, str(path), overrides)
        if origin is None:
            raise
        raise ConfigError(origin, exc.key, exc.expected) from None


_NO_BASE = object()  # no --set chip.base: the file's own


def read_chip_section(path: str | Path) -> dict[str, Any]:
    """A chip file's ``chip:`` mapping, with ``base: OTHER.yaml`` (a path relative to this file) resolved:
    this file's keys are laid over the base's, section by section, so that a device chip states only what
    differs from the chip it starts from (gem5's presets inherit the same way)."""
    return _chip_section(Path(path), (), _NO_BASE)[0]


def _chip_section(path: Path, seen: tuple[Path, ...], base: Any) -> tuple[dict[str, Any], dict[tuple, str]]:
    """The resolved ``chip:`` mapping and, for every key path in it, the file that wrote it."""
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) != {"chip"}:
        raise ConfigError(str(path), None, "expected a chip file with one top-level key 'chip:'")
    section = data["chip"]
    if isinstance(section, dict) and base is not _NO_BASE:  # --set chip.base (null: the file alone)
        section = {k: v for k, v in section.items() if k != "base"} if base is None else {**section, "base": base}
    if not isinstance(section, dict) or "base" not in section:
        return section, _origins(section, str(path))
    base = section["base"]
    if not isinstance(base, str) or not base:
        raise ConfigError(str(path), "chip.base", f"expected the path of another chip file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ConfigError(str(path), "chip.base", f"{base} leads back to this file (a cycle of base files)")
    if not base_path.is_file():
        raise ConfigError(str(path), "chip.base", f"no chip file {base_path}")
    inherited, origins = _chip_section(base_path, (*seen, path.resolve()), _NO_BASE)
    own = {k: v for k, v in section.items() if k != "base"}
    return _laid_over(inherited, own), {**origins, **_origins(own, str(path))}


def _origins(section: Any, file: str, prefix: tuple = ()) -> dict[tuple, str]:
    """Every key path of a parsed section, mappings included, to ``file``."""
    out: dict[tuple, str] = {}
    if isinstance(section, dict):
        for key, value in section.items():
            out[(*prefix, str(key))] = file
            out.update(_origins(value, file, (*prefix, str(key))))
    return out


def _origin(origins: dict[tuple, str], exc: ConfigError, top: str, overrides: list[Override]) -> str | None:
    """The file that wrote the key ``exc`` is about, when that is not ``top`` (a base file); None otherwise."""
    if exc.file != top or not exc.key or not exc.key.startswith("chip."):
        return None
    parts = tuple(exc.key.split(".")[1:])
    for o in overrides:
        below = tuple(o.key.split(".")[1:])
        if parts[:len(below)] == below:
            return None  # set on the command line
    for n in range(len(parts), 0, -1):
        if parts[:n] in origins:
            return None if origins[parts[:n]] == top else origins[parts[:n]]
    return None


def _laid_over(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top``'s keys over ``base``'s: mappings merge key by key, anything else replaces."""
    merged = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _laid_over(merged[key], value)
        else:
            merged[key] = _deep_copy(value)
    return merged


def load_workload(path: str | Path, overrides: Iterable[Override] = (),
                  notes: list[str] | None = None) -> WorkloadSpec:
    """The workload file with its overrides; a key that does not apply is an error (see
    :func:`check_applicable`), or, with ``notes``, a note appended there (a sweep setting it on purpose)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, "expected a workload file: a mapping with dataset, network, mgd...")
    if "chip" in data:
        raise ConfigError(str(path), "chip", "this is a chip file; a workload file was expected here")
    overrides = list(overrides)
    data = apply_overrides(data, overrides, str(path), WorkloadSpec)
    workload = build(WorkloadSpec, data, str(path))
    check_applicable(data, workload, [o.key for o in overrides], str(path), notes)
    return workload


# (key, the key that decides, when the key does not apply, why): a key given but ignored is refused
_APPLIES: tuple[tuple[str, str, Any, str], ...] = (
    ("network.width", "network.kind", lambda w: w.network.kind != "paper_cnn",
     "applies only to network.kind paper_cnn (an MLP's size is network.hidden)"),
    ("network.hidden", "network.kind", lambda w: w.network.kind != "mlp",
     "applies only to network.kind mlp (the CNN's size is network.width)"),
    ("mgd.batch_size", "mgd.mode", lambda w: w.mgd.mode == "chip",
     "applies only in paper mode (chip mode takes one sample per cycle)"),
    ("mgd.node_batch", "mgd.mode", lambda w: w.mgd.mode == "chip",
     "applies only in paper mode with node perturbation"),
    ("mgd.momentum", "mgd.optimizer", lambda w: w.mgd.optimizer != "momentum",
     "applies only to mgd.optimizer momentum"),
    ("mgd.beta1", "mgd.optimizer", lambda w: w.mgd.optimizer != "adam", "applies only to mgd.optimizer adam"),
    ("mgd.beta2", "mgd.optimizer", lambda w: w.mgd.optimizer != "adam", "applies only to mgd.optimizer adam"),
    ("mgd.epsilon", "mgd.optimizer", lambda w: w.mgd.optimizer != "adam", "applies only to mgd.optimizer adam"),
)


def _given(data: Any, key: str) -> bool:
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is not None


def _covers(set_keys: Iterable[str], key: str) -> bool:
    """Whether a --set key sets ``key`` (itself, or a section holding it)."""
    return any(key == k or key.startswith(k + ".") for k in set_keys)


def check_applicable(data: Any, workload: WorkloadSpec, set_keys: list[str], file: str,
                     notes: list[str] | None = None) -> None:
    """A key given (in the file or by --set) that the run would ignore is a ConfigError naming it. Where
    only a --set of the deciding key (``mgd.mode=chip`` on a paper-mode file) made a key of the file moot,
    it is one warning instead; with ``notes`` (sweeps), every case is a note there."""
    for key, decider, moot, why in _APPLIES:
        if not _given(data, key) or not moot(workload):
            continue
        by_set = _covers(set_keys, key)
        message = f"{'--set ' if by_set else ''}{key}: {why}; here {decider} is {_value(workload, decider)}"
        if notes is not None:
            notes.append(message)
        elif by_set or not _covers(set_keys, decider):
            raise ConfigError(file, key, f"{why}; here {decider} is {_value(workload, decider)}: remove it")
        else:
            logger.warning("warning: %s: %s (set by --set %s); ignored", file, message, decider)


def _value(workload: WorkloadSpec, key: str) -> Any:
    node: Any = workload
    for part in key.split("."):
        node = getattr(node, part)
    return node


def load_config(chip_path: str | Path, workload_path: str | Path, sets: Iterable[str] = (),
                notes: list[str] | None = None) -> RunConfig:
    """Load both files with ``--set`` overrides split by the ``chip.`` prefix (``notes``: see
    :func:`load_workload`)."""
    overrides = [Override.parse(s) for s in sets]
    chip_overrides = [o for o in overrides if o.key.startswith("chip.")]
    workload_overrides = [o for o in overrides if not o.key.startswith("chip.")]
    chip = load_chip(chip_path, chip_overrides)
    workload = load_workload(workload_path, workload_overrides, notes)
    return RunConfig(chip, workload, str(chip_path), str(workload_path))


def config_from_yaml(chip_yaml: str, workload_yaml: str, source: str) -> RunConfig:
    """A RunConfig from the resolved YAML texts a run file keeps (``source`` names the file in errors)."""
    try:
        chip_data = yaml.load(chip_yaml, Loader=_StrictLoader)  # noqa: S506
        workload_data = yaml.load(workload_yaml, Loader=_StrictLoader)  # noqa: S506
    except (yaml.YAMLError, YAMLTooLarge, ValueError, RecursionError) as exc:
        raise ConfigError(source, "config", f"unreadable stored configuration ({exc})") from None
    if not isinstance(chip_data, dict) or "chip" not in chip_data:
        raise ConfigError(source, "config", "the stored chip configuration is missing")
    chip = build(ChipSpec, chip_data["chip"], source, "chip")
    workload = build(WorkloadSpec, workload_data, source)
    return RunConfig(chip, workload, source, source)
