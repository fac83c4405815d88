"""Pure: the detector, the alert policy, the movement summary, one leg's pipeline, the night window, the time base (samples in, events out, no I/O)."""
