"""The Falcon application factory: `create_app(container)` builds the app from the container."""

from __future__ import annotations

import gc
from typing import Any

import falcon

from adapters.sqlalchemy.unit_of_work import STORAGE_UNAVAILABLE_ERRORS
from entrypoints.container import Container
from entrypoints.http import fast_json
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.metrics import HttpMetrics
from entrypoints.http.middleware import AuthMiddleware, RequestContextMiddleware, VaryByOrigin
from entrypoints.http.openapi import RouteEntry, build_openapi
from entrypoints.http.resources import audit, auth, lab_data, labs, ops, sync, users
from entrypoints.http.resources import reports as report_resources
from entrypoints.http.resources import tasks as task_resources

API = "/api/v1"


class Routes:
    """Adds routes to the app and remembers them for the OpenAPI document."""

    def __init__(self, app: falcon.App[Any, Any]):
        self._app = app
        self.entries: list[RouteEntry] = []

    def add(self, path: str, resource: object, *, suffix: str | None = None) -> None:
        if suffix:
            self._app.add_route(path, resource, suffix=suffix)
        else:
            self._app.add_route(path, resource)
        self.entries.append(RouteEntry(path, resource, suffix))


def _pool_stats(container: Container) -> dict[str, int]:
    if container.settings().storage != "sql":
        return {}
    pool: Any = container.engine().pool
    return {"size": pool.size(), "checked_out": pool.checkedout(), "overflow": pool.overflow()}


def freeze_startup_heap() -> None:
    """Put what start-up built (modules, the container, the app, SQLAlchemy's caches) out
    of the garbage collector's way: its periodic full collections then scan only what
    requests allocate. Without it every third or fourth 1,000-mutation sync batch paid a
    full collection (~150 ms instead of ~100 ms of CPU in bench/profile_sync.py), and a
    12,000-record pull took 620 ms instead of 446."""
    gc.collect()
    gc.freeze()


def create_app(container: Container) -> falcon.App[Any, Any]:
    settings = container.settings()
    # Tests render every response both ways and fail on any difference (fast_json).
    fast_json.verify_against_pydantic(settings.aqualab_env == "test")
    metrics = HttpMetrics(lambda: _pool_stats(container))
    middleware: list[Any] = [
        RequestContextMiddleware(
            metrics=metrics,
            trusted_proxies=settings.trusted_proxy_networks,
            max_body_bytes=settings.max_body_bytes,
        )
    ]
    if settings.cors_origin_list:
        middleware.append(
            falcon.CORSMiddleware(
                allow_origins=settings.cors_origin_list,
                expose_headers=["X-Request-ID", "ETag", "Retry-After", "Location"],
            )
        )
        middleware.append(VaryByOrigin())
    middleware.append(
        AuthMiddleware(container.authenticate(), container.api_rate_limiter(), settings.rate("api"))
    )
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False

    r = Routes(app)
    r.add(f"{API}/auth/register", auth.RegisterResource(container.register()))
    r.add(f"{API}/auth/login", auth.LoginResource(container.login()))
    r.add(f"{API}/auth/refresh", auth.RefreshResource(container.refresh()))
    r.add(f"{API}/auth/logout", auth.LogoutResource(container.logout()))
    r.add(f"{API}/auth/forgot-password", auth.ForgotPasswordResource(container.forgot_password()))
    r.add(f"{API}/auth/reset-password", auth.ResetPasswordResource(container.reset_password()))
    r.add(f"{API}/auth/me", auth.MeResource())

    r.add(f"{API}/users", users.UsersResource(container.list_users(), container.create_user()))
    r.add(
        f"{API}/users/{{user_id:uuid}}",
        users.UserResource(container.get_user(), container.update_user(), container.delete_user()),
    )
    r.add(f"{API}/labs", labs.LabsResource(container.list_labs(), container.create_lab()))
    r.add(
        f"{API}/labs/{{lab_id:uuid}}", labs.LabResource(container.get_lab(), container.update_lab())
    )
    r.add(
        f"{API}/parameters",
        lab_data.ParametersResource(container.list_parameters(), container.create_parameter()),
    )
    r.add(
        f"{API}/parameters/{{parameter_id:uuid}}",
        lab_data.ParameterResource(container.get_parameter(), container.update_parameter()),
    )
    r.add(f"{API}/standards", lab_data.StandardsResource(container.list_standards()))
    r.add(f"{API}/standards/{{code}}", lab_data.StandardResource(container.get_standard()))
    r.add(
        f"{API}/standards/{{code}}/limits/{{parameter}}",
        lab_data.StandardLimitResource(container.put_limit()),
    )
    r.add(
        f"{API}/samples",
        lab_data.SamplesResource(container.list_samples(), container.create_sample()),
    )
    r.add(
        f"{API}/samples/{{sample_id:uuid}}",
        lab_data.SampleResource(
            container.get_sample(), container.update_sample(), container.delete_sample()
        ),
    )
    r.add(
        f"{API}/samples/{{sample_id:uuid}}/results",
        lab_data.SampleResultsResource(container.list_results(), container.create_result()),
    )
    r.add(
        f"{API}/results/{{result_id:uuid}}",
        lab_data.ResultResource(
            container.get_result(), container.update_result(), container.delete_result()
        ),
    )
    r.add(f"{API}/sync", sync.SyncResource(container.sync()))
    r.add(f"{API}/sync/status", sync.SyncStatusResource(container.sync_status()))
    r.add(f"{API}/sync/conflicts", sync.ConflictsResource(container.list_conflicts()))
    r.add(
        f"{API}/sync/conflicts/{{conflict_id:uuid}}/resolve",
        sync.ConflictResolveResource(container.resolve_conflict()),
    )
    tasks_list = task_resources.TasksResource(container.list_tasks(), container.create_task())
    task_one = task_resources.TaskResource(
        container.get_task(),
        container.update_task(),
        container.complete_task(),
        container.delete_task(),
    )
    for tasks_path in (f"{API}/tasks", f"{API}/{{user_id:uuid}}/tasks"):
        r.add(tasks_path, tasks_list)
        r.add(f"{tasks_path}/{{task_id:uuid}}", task_one)
        r.add(f"{tasks_path}/{{task_id:uuid}}/complete", task_one, suffix="complete")
    r.add(f"{API}/audit-logs", audit.AuditLogResource(container.list_audit()))
    r.add(f"{API}/audit-logs/verify", audit.AuditVerifyResource(container.verify_audit()))
    r.add(
        f"{API}/reports/compliance",
        report_resources.ComplianceReportResource(container.compliance_report()),
    )

    probe = container.health_probe()
    r.add(f"{API}/health", ops.HealthResource(probe))
    r.add(f"{API}/health/live", ops.LiveResource())
    r.add(f"{API}/health/ready", ops.ReadyResource(probe))
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    r.add(f"{API}/metrics", ops.MetricsResource(metrics, token))
    docs = ops.DocsResource()
    r.add(f"{API}/docs", docs)
    r.add(f"{API}/docs/init.js", docs, suffix="init")
    r.add("/docs", ops.RedirectResource(f"{API}/docs"))
    r.add("/health", ops.RedirectResource(f"{API}/health"))
    app.add_static_route(f"{API}/docs/static", str(ops.swagger_assets_dir()))

    openapi = ops.OpenApiResource()
    r.add(f"{API}/openapi.json", openapi)
    openapi.publish(build_openapi(r.entries, version=ops.app_version()))

    install_error_handlers(app, STORAGE_UNAVAILABLE_ERRORS)
    return app
