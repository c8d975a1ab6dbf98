"""Synthetic bank-sync data (generate.py) and the benchmark against the floor (bench.py)."""
