"""Emulated chips: register files with FIFOs behind an smbus2-shaped bus.

They let the real drivers run in tests, ``run --simulate``, ``demo`` and
``record --simulate`` with no hardware attached.
"""
