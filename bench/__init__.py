"""Benchmarks of the project (`make bench`, `make bench-large`); results go to bench/results/ and BENCHMARKS.md."""
