"""The built-in checks: what each reads, its parameters and defaults, and its function.

Internal: the public API is txguard's top level.
"""
