"""Serving: the FastAPI HTTP API and the server-rendered dashboard (issue 6)."""
