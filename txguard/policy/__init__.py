"""Policy compilation: load (YAML with locations), schema, extends, tools, rules, lint.

Internal: the public API is txguard's top level (``compile_file``, ``CompiledPolicy``, ``lint``).
"""
