"""Learning from the sleeper: snippets of raw samples around alarms, their labels, tuning and export (docs/learning.md)."""
