"""Benchmarks: figures printed side by side with their anchors (see bench/README.md)."""
