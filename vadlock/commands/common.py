"""What every command module shares: exit codes, the usage error, the parser class that
reports an error in one line, and the checks of option values."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def positive(value: int, flag: str) -> int:
    """`value`, or a usage error naming `flag` when it is not positive."""
    if value <= 0:
        raise UsageError(f"{flag} must be positive, got {value}")
    return value


def fault_classes(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The comma-separated fault classes of `text`, each one of `allowed`."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise UsageError(f"unknown fault class {bad[0] if bad else text!r} "
                         f"(known: {', '.join(allowed)})")
    return names


def replay_command(design, hypotheses, saved) -> str | None:
    """The `vadlock simulate` line that replays a saved counterexample, if one was saved."""
    return (f"vadlock simulate --design {design.name} --server {hypotheses.label} "
            f"--scenario {saved}" if saved else None)
