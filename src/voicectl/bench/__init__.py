"""Benchmarks behind ``voicectl bench``, one module per benchmark (results: docs/benchmarks.md).

- ``fal``: first audio latency, text in -> first frame out, via gRPC.
- ``stats``: percentile summaries shared by every benchmark.
"""
