"""The gateway's routes, one module per resource; each route names its RBAC entry.

Each router carries its full path prefix (``/v1/...``) rather than getting it from
``include_router``, so a route's own ``path`` is the template the HTTP metrics label with."""

API_PREFIX = "/v1"
