"""Errors that reach the user as one clear line and exit status 2, never as a traceback."""

from __future__ import annotations


# the command line's exit statuses besides 0 (here, below both the command line and the sweep that share them)
EXIT_USAGE = 2      # a bad input: the one-line error of a NeurosimError
EXIT_DIVERGED = 3   # the run went through, but diverged (NaN, or blown up to below chance): see its summary

MAX_MESSAGE_CHARS = 600  # an error is one readable line, whatever value it quotes


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was (a quoted value can be huge)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters in all)"


class NeurosimError(Exception):
    """Base class of every error the command line reports as a message (exit status 2)."""


class ConfigError(NeurosimError):
    """A bad input file or value: names the file, the key path and what was expected."""

    def __init__(self, file: str | None, key: str | None, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        where = file or "<command line>"
        if key:
            where += f": {bounded(str(key), 200)}"
        super().__init__(f"{where}: {bounded(expected)}")

    def __reduce__(self) -> tuple:  # picklable, so it can cross from a sweep's worker process
        return (ConfigError, (self.file, self.key, self.expected))


class DataError(NeurosimError):
    """A data set that is missing, unreadable or malformed; says where it looked and how to get it."""


# What an interrupted command leaves behind, set by the command once it is known and printed by the command
# line on Ctrl-C or SIGTERM (here, not in neurosim.cli: that module is __main__ under ``python -m``).
interrupt_hint: dict[str, object] = {}
