"""The decision service: ``txguard serve`` (extra ``txguard[serve]``: Starlette on uvicorn).

>>> from txguard.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig(policy="policies/retail.yaml"))   # doctest: +SKIP

``create_app`` gives the ASGI application of one worker; ``txguard serve`` runs it on uvicorn with
N worker processes. Endpoints, problem details, reload, metrics and traces: ``docs/operations.md``;
the OpenAPI document: :func:`openapi_document` (``docs/openapi.json``).
"""

from ._app import ServeConfig, create_app
from ._openapi import openapi_document
from ._problems import Problem, ProblemType

__all__ = ["Problem", "ProblemType", "ServeConfig", "create_app", "openapi_document"]
