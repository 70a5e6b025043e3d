"""Detector backends, one module per runtime. Each imports its runtime lazily when a model loads."""
