"""Fault, load and fuzz tests: bounded in count and time, 127.0.0.1 only."""
