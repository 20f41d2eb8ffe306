"""Consent: what a confirmation binds (the intent's digest) and signed consent tokens.

Internal: the public API is txguard's top level (``ConsentSigner``).
"""
