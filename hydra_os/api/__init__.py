"""The HTTP API (FastAPI): health, status, nodes; components add their own routers."""
