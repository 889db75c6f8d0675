"""The HTTP API under /v1: thin routers over the services."""
