"""The API's documentation pages, /docs (Swagger UI) and /redoc, served from the package.

FastAPI's own pages load their scripts from a CDN, so they are blank without
internet and break the platform's Content-Security-Policy. The files of Swagger
UI and ReDoc come from the `fastapi-offline` package (its static folder, with
their licences); the page that starts Swagger UI is web/static/swagger-init.js.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

# Scripts from this origin only, never inline; the answer to /openapi.json the only
# connection. The two viewers style their elements from script (ReDoc inserts <style>
# elements), hence 'unsafe-inline' for styles alone; ReDoc parses in a blob: worker.
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
}

_SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}} — API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}} — API</title>
<link rel="icon" href="/static/favicon.svg">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS_PATH}/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their files (the app is made with docs_url=redoc_url=None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE.format(title=app.title), headers=DOCS_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(title=app.title), headers=DOCS_HEADERS)
