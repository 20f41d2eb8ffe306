"""The audit trail: one hash-chained record per decision, in a sink chosen by URL.

>>> from txguard import Guard
>>> from txguard.audit import MemorySink, verify
>>> sink = MemorySink()
>>> guard = Guard.from_file("policies/retail.yaml", audit=sink)   # doctest: +SKIP
>>> decision = guard.check(proposal, request=..., session=..., facts=...)   # doctest: +SKIP
>>> verify(sink).ok
True

Sinks: ``memory:`` (:class:`MemorySink`), ``jsonl:PATH`` (:class:`JsonlSink`), ``sqlite:PATH``
(:class:`SqliteSink`, the embedded default) and ``postgresql://...`` (:class:`PostgresSink`), all
opened by :func:`open_sink`. The record format is specified in ``docs/audit-format.md``.
"""

from .. import _publish
from ..core.canonical import canonical_json
from ._record import AuditRecord
from ._replay import Change, ReplayGate, ReplayReport, replay
from .sinks import AuditEntry, AuditError, AuditSink, JsonlSink, MemorySink, PostgresSink, SqliteSink, open_sink
from ._verify import VerifyResult, verify

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditRecord",
    "AuditSink",
    "Change",
    "JsonlSink",
    "MemorySink",
    "PostgresSink",
    "ReplayGate",
    "ReplayReport",
    "SqliteSink",
    "VerifyResult",
    "canonical_json",
    "open_sink",
    "replay",
    "verify",
]

for _name in __all__:
    _publish(globals()[_name], __name__)  # e.g. `txguard.audit.MemorySink`: see `txguard._publish`
