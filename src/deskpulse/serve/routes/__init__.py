"""HTTP routers. Every module here exposing ``router`` is mounted under ``/api/v1``; a module
that also exposes ``root_router`` gets those routes at the root too (seed 004's paths)."""
