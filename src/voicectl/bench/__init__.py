"""Benchmarks behind ``voicectl bench``: one module per benchmark, results in docs/benchmarks.md.

``stats`` holds the percentile summaries every benchmark shares; ``fal`` measures first
audio latency (text in -> first frame out, via gRPC).
"""
