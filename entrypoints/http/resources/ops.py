"""Operations: health, readiness, metrics, the OpenAPI document and Swagger UI."""

from __future__ import annotations

import functools
import hmac
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import falcon
from openapi_ui_bundles import swagger_ui
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.errors import StorageUnavailable, Unauthenticated
from domain.ports import HealthProbe
from entrypoints.http.metrics import HttpMetrics
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import HealthOut

TAGS = ("operations",)


@functools.cache
def app_version() -> str:
    """Read once: the installed metadata is parsed as an email message (~0.4 ms), and a
    process keeps running the code it started with even if the package is upgraded."""
    try:
        return version("aqualab")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


class HealthResource:
    def __init__(self, probe: HealthProbe):
        self._probe = probe

    @operation(
        summary="Overall health (includes the database)",
        tags=TAGS,
        response=HealthOut,
        auth=False,
        errors=(503,),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _probe(self._probe, resp)


class LiveResource:
    @operation(summary="Liveness: the process answers", tags=TAGS, response=HealthOut, auth=False)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render(resp, HealthOut, {"status": "ok", "checks": {}, "version": app_version()})


class ReadyResource:
    def __init__(self, probe: HealthProbe):
        self._probe = probe

    @operation(
        summary="Readiness: the database answers",
        tags=TAGS,
        response=HealthOut,
        auth=False,
        errors=(503,),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _probe(self._probe, resp)


def _probe(probe: HealthProbe, resp: falcon.Response) -> None:
    try:
        checks = probe.check()
    except StorageUnavailable:
        render(
            resp,
            HealthOut,
            {"status": "unavailable", "checks": {"database": "down"}, "version": app_version()},
            status=503,
        )
        resp.set_header("Retry-After", "5")
        return
    render(resp, HealthOut, {"status": "ok", "checks": checks, "version": app_version()})


class MetricsResource:
    def __init__(self, metrics: HttpMetrics, token: str | None):
        self._metrics = metrics
        self._token = token

    @operation(
        summary="Prometheus metrics",
        tags=TAGS,
        auth=False,
        errors=(401,),
        produces=("text/plain",),
        description="Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._token:
            supplied = (req.get_header("Authorization") or "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(supplied.encode(), self._token.encode()):
                raise Unauthenticated("Metrics token required")
        resp.data = generate_latest(self._metrics.registry)
        resp.content_type = CONTENT_TYPE_LATEST


class OpenApiResource:
    """Registered before the document exists, since the document lists this route too."""

    def __init__(self) -> None:
        self._document: dict[str, Any] = {}

    def publish(self, document: dict[str, Any]) -> None:
        self._document = document

    @operation(summary="This API's OpenAPI 3.1 document", tags=TAGS, auth=False)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._document


SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>AquaLab API</title>
  <link rel="stylesheet" href="/api/v1/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/api/v1/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/v1/docs/static/swagger-ui-bundle.js"></script>
  <script src="/api/v1/docs/static/swagger-ui-standalone-preset.js"></script>
  <script src="/api/v1/docs/init.js"></script>
</body>
</html>
"""

SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""


def swagger_assets_dir() -> Path:
    return Path(swagger_ui.static_path)


class DocsResource:
    @operation(
        summary="Swagger UI (served locally, no CDN)",
        tags=TAGS,
        auth=False,
        produces=("text/html",),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = SWAGGER_PAGE

    @operation(
        summary="Swagger UI start-up script",
        tags=TAGS,
        auth=False,
        produces=("application/javascript",),
    )
    def on_get_init(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/javascript"
        resp.text = SWAGGER_INIT


class RedirectResource:
    def __init__(self, target: str):
        self._target = target

    @operation(
        summary="Permanent redirect into /api/v1",
        tags=TAGS,
        auth=False,
        status=308,
        produces=(),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPPermanentRedirect(self._target)
