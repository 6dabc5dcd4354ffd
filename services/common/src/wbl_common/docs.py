"""The API documentation every service serves, working without internet and telling the truth.

`/docs` (Swagger UI) and `/redoc` (ReDoc) load their scripts and styles from this service:
the assets come from the `fastapi-offline` package, pinned in uv.lock, never from a CDN (these
machines and many school networks have no internet). Each page has its own content security
policy allowing only this origin. The OpenAPI document gets the schemas of the error bodies
that `wbl_common.web.errors(...)` refers to, and FastAPI's default 422
(`HTTPValidationError`, a shape these services never answer) becomes the real one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

from wbl_common.web import SCHEMA_REF, FieldError, Problem, ValidationProblem, errors

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
# The Swagger UI and ReDoc bundles the package ships (it serves them from here itself).
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "redoc.standalone.js",
    "favicon.png",
)
# Swagger UI must not ask swagger.io to validate the document.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install_docs(app: FastAPI) -> None:
    """Serve `/docs`, `/redoc` and their assets; document the error bodies in the OpenAPI.
    `app` must be made with `docs_url=None, redoc_url=None` (FastAPI's own pages use a CDN)."""
    if app.docs_url or app.redoc_url:
        raise ValueError("make the app with docs_url=None, redoc_url=None")
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.openapi = _with_problems(app, app.openapi)  # type: ignore[method-assign]

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return _with_policy(page)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            with_google_fonts=False,
        )
        return _with_policy(page)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """Only this origin, plus the page's own inline script by its hash. Both UIs set styles
    inline, and ReDoc runs its search in a worker made from a blob. ReDoc's footer logo is
    an image on its CDN: `img-src` stops it before any request leaves."""
    body = bytes(page.body).decode()
    scripts = " ".join(
        ["'self'"]
        + [
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in _INLINE_SCRIPT.findall(body)
        ]
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


def _with_problems(
    app: FastAPI, generate: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    return openapi


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the error bodies' schemas; replace FastAPI's default 422 by ours (it adds one to
    every operation with parameters or a body, which is where ours can answer 422)."""
    _, schemas = models_json_schema(
        [(model, "serialization") for model in (FieldError, Problem, ValidationProblem)],
        ref_template=SCHEMA_REF + "{model}",
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas["$defs"])
    default_422 = {"$ref": SCHEMA_REF + "HTTPValidationError"}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if answer.get("content", {}).get("application/json", {}).get("schema") == default_422:
                operation["responses"]["422"] = errors(422)[422]
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unused
        if f'"{SCHEMA_REF}{name}"' not in json.dumps(document):
            components.pop(name, None)
    return document
