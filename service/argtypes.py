"""Argument types shared by the command lines (service.cli and the learning commands)."""

from __future__ import annotations

import argparse


def int_between(lo: int, hi: int):
    """An argparse type: an integer in ``[lo, hi]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}: {text!r}")
        if value > hi:
            raise argparse.ArgumentTypeError(f"at most {hi}: {text!r}")
        return value
    return parse


SIMULATE_HELP = ("read the try-it mode's state in <state_dir>/simulated, what `run --simulate` and "
                 "device.simulated keep (default: off)")
"""``--simulate`` on the commands that read the state directory (log, history, label, tune, export)."""
