"""Benchmarks and the load test of the pump clinic (docs/benchmarks.md).

``python -m bench`` (``make bench``) builds synthetic registries in their own
databases, never the development one, and measures the pages, the due list
and the import; ``python -m bench.loadtest`` (``make loadtest``) drives
gunicorn with simulated staff.
"""
