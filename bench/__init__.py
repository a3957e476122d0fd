"""Relay benchmark: direct vs nginx vs this proxy, against a local echo upstream.

Run `python -m bench.relay --help`; results and the method are in `bench/RESULTS.md`.
Nothing here is imported by the proxy, and the proxy's tests only run a short smoke of it.
"""
