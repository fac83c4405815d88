"""The night record (SQLite store) and what is read back from it: the morning log, its advice, the history, the charts."""
