"""Benchmarks of the project (run with `make bench`); results are written to bench/results/."""
