"""Authoring tools: suites, explain, coverage, docs and fmt."""
