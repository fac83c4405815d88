"""The simulated world: night model, renderer, scenarios, the emulated rig of `--simulate`, the demo and its private broker."""
