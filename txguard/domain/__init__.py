"""Internal: declared domains (a policy's own intent kinds, facts and request), their models, what
consent binds of them and how declared facts are read. See ``docs/policy-guide.md``, *Declared domains*."""
