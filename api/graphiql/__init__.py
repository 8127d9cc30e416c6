"""GraphiQL, served entirely by Murmur: no CDN, so it works offline and in air-gapped
clusters, under a Content-Security-Policy that allows nothing but Murmur's own origin.

The browser assets are the npm packages' own files at pinned versions, copied into
`assets/` by `scripts/refresh-graphiql.sh` (which records them in `assets.json`); the page
and its start-up script are Murmur's. Only the files named in `assets.json` are served.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

HERE = Path(__file__).parent
ASSETS = HERE / "assets"

# GraphiQL's editors set inline styles, so styles may be inline; scripts may not. 'self'
# covers the page's websocket to its own host (CSP Level 3).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_OWN_FILES = {"murmur-graphiql.js", "murmur-graphiql.css"}
# the assets never change under a name (a refresh is a new release): cache them for a day
_ASSET_CACHE = "public, max-age=86400"


def asset_names() -> set[str]:
    return set(json.loads((ASSETS / "assets.json").read_text())["sha256"])


def page() -> Response:
    return HTMLResponse((HERE / "page.html").read_text(), headers=_PAGE_HEADERS)


def routes() -> list[Route]:
    vendored, own = asset_names(), _OWN_FILES

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in vendored:
            return Response("Not Found", status_code=404)
        return FileResponse(
            ASSETS / name, headers={"Cache-Control": _ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
        )

    async def own_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in own:
            return Response("Not Found", status_code=404)
        return FileResponse(
            HERE / name, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        )

    return [
        Route("/graphiql/assets/{name}", asset, methods=["GET"]),
        Route("/graphiql/{name}", own_file, methods=["GET"]),
    ]
