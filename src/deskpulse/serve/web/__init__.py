"""The server-rendered dashboard (issue 6): pages under ``/ui``, Jinja2 templates, offline charts.

``router`` holds every page (see :mod:`deskpulse.serve.web.pages` for the map); the app
factory includes it at the root, outside ``/api/v1`` (CONTRACT §7). Pages authenticate like
the API — the same JWTs, kept in an HttpOnly cookie by the login page — and only ever see
the caller's tenant. Figures come from :mod:`deskpulse.analytics`; charts are drawn by the
``plotly.min.js`` shipped inside the installed ``plotly`` package (no CDN, works offline).
"""

from deskpulse.serve.web.agents_pages import router as _agents_router
from deskpulse.serve.web.manage import router as _manage_router
from deskpulse.serve.web.pages import router

# Report schedules and alert rules (web/manage.py) are pages of the same dashboard.
router.include_router(_manage_router)
# Skills & routing and the header's availability widget (issue 8: web/agents_pages.py).
router.include_router(_agents_router)

__all__ = ["router"]
