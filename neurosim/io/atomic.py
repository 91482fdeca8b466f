"""Every output file is written whole or not at all: into a temporary file beside it, renamed over it when
complete, removed on any failure (KeyboardInterrupt, and so SIGTERM, included). A killed writer (kill -9, a
power cut) can leave only its temporary file, which the next write of the same path removes."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neurosim.errors import NeurosimError

_LIVE: set[str] = set()  # temporary files being written now (a sweep worker's SIGTERM removes them)


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def temp_pattern(path: Path) -> re.Pattern[str]:
    """The names of ``path``'s temporary files: ``mkstemp(prefix=".NAME.", suffix=".tmp")``."""
    return re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary file to write, in ``path``'s folder; renamed over ``path`` when the block completes, with
    the permissions the umask gives a new file, and removed if it does not. OSError is the caller's to word."""
    path = Path(path)
    remove_stale_temps(path)
    tmp = _create_temp(path)
    _LIVE.add(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _LIVE.discard(tmp)


def _create_temp(path: Path) -> str:
    """A new empty file named as mkstemp would (``.NAME.XXXXXXXX.tmp``) but created with mode 0o666, so that
    the process's umask sets its permissions as it does any new file's (reading the umask would mean setting
    it, for every thread of the process at once)."""
    for _ in range(100):
        tmp = str(_folder(path) / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text(path: str | Path, text: str) -> None:
    """``text`` into ``path`` (UTF-8, newlines as given), atomically; a failure is one error naming the file."""
    try:
        with replacing(path) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:  # a full disk, a folder made read-only or removed meanwhile...
        raise NeurosimError(f"{path}: cannot write the file ({exc.strerror or exc})") from None


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left (every exit Python sees removes its own):
    called before ``path`` is written again. Returns those removed."""
    path = Path(path)
    folder = _folder(path)
    pattern = temp_pattern(path)
    removed = []
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return removed
    for name in names:
        if pattern.fullmatch(name) and str(folder / name) not in _LIVE:
            try:
                (folder / name).unlink()
                removed.append(folder / name)
            except OSError:
                pass
    return removed


def remove_live_temps() -> None:
    """Remove the temporary files this process is writing: for a signal handler that exits at once."""
    for tmp in list(_LIVE):
        Path(tmp).unlink(missing_ok=True)
    _LIVE.clear()
