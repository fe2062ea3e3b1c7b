"""`usagectl serve`: the read models over HTTP, live events as SSE, and a dashboard page.

Importing this package loads nothing: the CLI imports its query modules without paying for the
ASGI stack."""
