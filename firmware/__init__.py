"""nightcramp hardware layer: I2C drivers, emulated chips, GPIO and acquisition.

Nothing in this package imports :mod:`service`; data flows up from here.
"""

__version__ = "0.1.0"  # the package version (pyproject.toml reads it from here)
