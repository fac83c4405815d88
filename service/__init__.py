"""nightcramp service layer: everything above the hardware, grouped by job.

pipeline/ (pure: detection, alert policy, movement summary, a leg's pipeline, night window, time
base), mqtt/, night/ (the night record and morning log), recording/, sim/, and app/ (the
composition root, core, schedule, indicators, hardware factory, doctor, test-alert); cli.py,
config.py, events.py and logsetup.py at the top.
"""

from firmware import __version__

__all__ = ["__version__"]
