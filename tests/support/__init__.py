"""Helpers shared by tests: generators of data the platform is promised to take."""
