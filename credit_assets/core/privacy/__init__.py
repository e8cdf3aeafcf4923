"""Borrower rights: access, explanation, consent and erasure across every store the platform writes."""
