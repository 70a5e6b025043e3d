"""Helpers the tests (and a few benchmarks) share: running the installed CLI, perturbing real boxes."""
