"""Consent: the family decides, purpose by purpose, what a recording may be used for."""
