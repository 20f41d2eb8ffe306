"""The built-in checks: what each reads, its parameters and defaults, and its function.

``ctx`` holds what a check may read for one decision (:class:`~txguard.checks.ctx.Ctx`); ``spec``
the :class:`~txguard.checks.spec.CheckSpec`, the ``CHECKS`` registry and ``PRECONDITIONS``; the
checks themselves are grouped by what they judge (``identity``, ``money``, ``catalog``,
``payment``, ``orders``). Importing this package registers every check, in this order.

Internal: the public API is txguard's top level.
"""

from . import identity, money, catalog, payment, orders  # noqa: F401 - registers the checks, in order
