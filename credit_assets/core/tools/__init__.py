"""Tools around the platform, not part of a decision.

- `synthetic/`: the synthetic alternative-data population (`generate`), with ground truth.
- `traffic`: `simulate_traffic` scores a population through the API.
"""
