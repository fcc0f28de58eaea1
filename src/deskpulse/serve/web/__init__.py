"""The server-rendered dashboard (issue 6): pages under ``/ui``, Jinja2 templates, offline charts.

``router`` holds every page (see :mod:`deskpulse.serve.web.pages` for the map); the app
factory includes it at the root, outside ``/api/v1`` (CONTRACT §7). Pages authenticate like
the API — the same JWTs, kept in an HttpOnly cookie by the login page — and only ever see
the caller's tenant. Figures come from :mod:`deskpulse.analytics`; charts are drawn by the
``plotly.min.js`` shipped inside the installed ``plotly`` package (no CDN, works offline).
"""

from deskpulse.serve.web.pages import router

__all__ = ["router"]
