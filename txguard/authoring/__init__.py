"""Authoring tools: suites, explain, coverage, docs and fmt.\n\nInternal: the public API is txguard's top level and the ``txguard`` command.\n"""
