"""nightcramp benchmarks: speed, memory and detection quality, with numbers written into docs/.

Run one with ``.venv/bin/python -m benchmarks.<name>``; ``make bench`` runs them all.
"""
