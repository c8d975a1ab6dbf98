"""One router per page (or family of pages); ``ui/app.py`` assembles them."""

from __future__ import annotations

from . import blocks, configuration, draft, guide, json_api, login, results

ROUTERS = (
    login.router,
    results.router,
    configuration.router,
    draft.router,
    guide.router,
    json_api.router,
    blocks.router,
)
