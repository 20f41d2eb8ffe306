"""The decision engine: a case in, a decision out.

Internal: the public API is txguard's top level (``Guard``).
"""
