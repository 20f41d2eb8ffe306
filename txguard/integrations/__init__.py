"""txguard in the frameworks agents are built with.

Each framework's integration is a module of its own here, importing only its framework (installed
with the extra of the same name, e.g. ``pip install 'txguard[langgraph]'``); the core never imports
a framework. All of them run the same step, :class:`ToolCallHook`, in the framework's own
pre-tool hook:

- ``allow``: the tool runs, with exactly the arguments that were decided;
- ``clarify``: the framework's own approval or interrupt mechanism shows the confirmation; the
  host records the user's approval (never the model's words), and the call is checked again with
  it, so only the confirmed call runs and a call changed after approval is caught;
- ``escalate``: the tool never runs; the agent gets the decision's message.
"""

from .. import _publish
from ._hook import Approval, HookCall, ToolCallHook, Verdict

__all__ = ["Approval", "HookCall", "ToolCallHook", "Verdict"]

for _name in __all__:
    _publish(globals()[_name], __name__)  # e.g. `txguard.audit.MemorySink`: see `txguard._publish`
