"""Recordings: the file format (v1), capture (`nightcramp record`) and replay (`nightcramp replay`)."""
