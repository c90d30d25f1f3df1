"""Throughput benchmarks of bihm_jax (run as `python -m benchmarks.<name> --help`)."""
