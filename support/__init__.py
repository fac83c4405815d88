"""Helpers shared by the tests and the benchmarks: brokers, signal generators, emulated rigs.

Not part of the installed service: the tests and benchmarks import it from the repository root.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding service/, firmware/, docs/)."""
