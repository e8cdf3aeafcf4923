"""The test suite; its folders mirror the code (core/, defs/, api/) plus reliability/ and deploy/."""
