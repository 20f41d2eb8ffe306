"""The vocabulary every other part shares: errors, money, JSON, paths, intents, context, decisions.

Internal: nothing here imports another txguard package. The public API is txguard's top level.
"""
