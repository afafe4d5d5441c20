"""``shipyard.ui.app`` provides the dashboard's web app: HTML pages and their JSON API.

Every route is a GET: the dashboard only reads. Pages are under ``/``, the
data of each page under ``/api/...`` (the same dicts the pages render),
static files under ``/static``. With a token, each request must carry it as
``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (then kept in a cookie
and removed from the address) or in that cookie; ``/api/health`` is open.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from shipyard.errors import (
    ArtifactNotFound,
    DatasetNotFound,
    ModelNotFound,
    RunNotFound,
    ShipyardError,
)
from shipyard.ui import pages
from shipyard.ui.data import Dashboard, jsonable

if TYPE_CHECKING:
    from shipyard.ui.store import ReadOnlyClient

STATIC = Path(__file__).with_name("static")
COOKIE = "shipyard_ui_token"
OPEN_PATHS = ("/api/health",)
#: No script or style from anywhere but the dashboard itself; reports (framed) keep their inline script.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
_NOT_FOUND = (RunNotFound, ArtifactNotFound, DatasetNotFound, ModelNotFound)


def build_app(client: ReadOnlyClient, *, token: str | None = None) -> FastAPI:
    """The dashboard app over a read-only client.

    Args:
        client: the stack to show (its metadata store read-only).
        token: a secret every request must carry (see the module's doc).
    """
    board = Dashboard(client)
    app = FastAPI(title="Shipyard dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = board
    project = board.title

    def models() -> bool:
        return board.has_models

    def page(html: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": PAGE_CSP})

    def report(html: str) -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})

    def api(data: Any) -> JSONResponse:
        return JSONResponse(jsonable(data))

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _refuse_method(request)
        if token and request.url.path not in OPEN_PATHS:
            given = request.query_params.get("token")
            if given is not None and _same(given, token):
                # Keep it in a cookie and take it out of the address (and of the history).
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return response
            if not (_bearer_ok(request, token) or _same(request.cookies.get(COOKIE, ""), token)):
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"detail": "missing or wrong token"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                return HTMLResponse(pages.login_page(), status_code=401, headers={"Content-Security-Policy": PAGE_CSP})
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(ShipyardError)
    async def user_error(request: Request, exc: ShipyardError) -> Response:
        status = 404 if isinstance(exc, _NOT_FOUND) else 400
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.message, "hint": exc.hint}, status_code=status)
        return page(pages.error_page(status, exc.message, project=project, hint=exc.hint or ""), status)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- JSON API ----------------------------------------------------------

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/runs")
    def api_runs(
        pipeline: str | None = None, user: str | None = None, status: str | None = None,
        metric: str | None = None, sort: str = "started", order: str = "desc", page: int = 1,
        per_page: int = 50,
    ) -> JSONResponse:
        return api(board.runs(pipeline=pipeline, user=user, status=status, metric=metric, sort=sort,
                              order=order, page=page, per_page=per_page))

    @app.get("/api/runs/{run_id}")
    def api_run(run_id: str) -> JSONResponse:
        return api(board.run(run_id))

    @app.get("/api/runs/{run_id}/report")
    def api_report(run_id: str) -> JSONResponse:
        return api(board.report(run_id))

    @app.get("/api/reports")
    def api_reports(page: int = 1, per_page: int = 50) -> JSONResponse:
        return api(board.reports(page=page, per_page=per_page))

    @app.get("/api/artifacts/{artifact_id}")
    def api_artifact(artifact_id: str, page: int = 1, per_page: int = 50, depth: int = 2) -> JSONResponse:
        return api(board.artifact(artifact_id, page=page, per_page=per_page, depth=depth))

    @app.get("/api/datasets")
    def api_datasets() -> JSONResponse:
        return api(board.datasets())

    @app.get("/api/datasets/{name}")
    def api_dataset(name: str, version: int | None = None) -> JSONResponse:
        return api(board.dataset(name, version))

    @app.get("/api/datasets/{name}/diff")
    def api_dataset_diff(name: str, a: int | None = None, b: int | None = None) -> JSONResponse:
        return api(board.dataset_diff(name, a, b))

    @app.get("/api/compare")
    def api_compare(runs: list[str] = Query(default=[])) -> JSONResponse:
        return api(board.compare(runs))

    # -- pages -------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def runs_page(
        pipeline: str | None = None, user: str | None = None, status: str | None = None,
        metric: str | None = None, sort: str = "started", order: str = "desc", page: int = 1,
        per_page: int = 50,
    ) -> HTMLResponse:
        data = board.runs(pipeline=pipeline, user=user, status=status, metric=metric, sort=sort, order=order,
                          page=page, per_page=per_page)
        return _page(pages.runs_page(data, project=project, models=models()))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str) -> HTMLResponse:
        return _page(pages.run_page(board.run(run_id), project=project, models=models()))

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def report_page(run_id: str) -> HTMLResponse:
        run = board.client.get_run(run_id)
        board.report_html(run.id)  # a run without statistics is an error page, not an empty frame
        return _page(pages.report_page({"id": run.id, "pipeline": run.pipeline}, project=project, models=models()))

    @app.get("/runs/{run_id}/report.html", response_class=HTMLResponse)
    def report_document(run_id: str) -> HTMLResponse:
        return report(board.report_html(run_id))

    @app.get("/reports", response_class=HTMLResponse)
    def reports_page(page: int = 1) -> HTMLResponse:
        return _page(pages.reports_page(board.reports(page=page), project=project, models=models()))

    @app.get("/artifacts/{artifact_id}", response_class=HTMLResponse)
    def artifact_page(artifact_id: str, page: int = 1, depth: int = 2) -> HTMLResponse:
        data = board.artifact(artifact_id, page=page, depth=depth)
        return _page(pages.artifact_page(data, project=project, models=models()))

    @app.get("/datasets", response_class=HTMLResponse)
    def datasets_page() -> HTMLResponse:
        return _page(pages.datasets_page(board.datasets(), project=project, models=models()))

    @app.get("/datasets/{name}", response_class=HTMLResponse)
    def dataset_page(name: str, version: int | None = None) -> HTMLResponse:
        return _page(pages.dataset_page(board.dataset(name, version), project=project, models=models()))

    @app.get("/datasets/{name}/statistics", response_class=HTMLResponse)
    def dataset_statistics_page(name: str, version: int | None = None) -> HTMLResponse:
        chosen = board.store.get_dataset_version(name, version)
        data = {"dataset": name, "version": chosen.to_dict()}
        return _page(pages.dataset_statistics_page(data, project=project, models=models()))

    @app.get("/datasets/{name}/statistics.html", response_class=HTMLResponse)
    def dataset_statistics_document(name: str, version: int | None = None) -> HTMLResponse:
        return report(board.statistics_html(name, version))

    @app.get("/datasets/{name}/diff", response_class=HTMLResponse)
    def dataset_diff_page(name: str, a: int | None = None, b: int | None = None) -> HTMLResponse:
        return _page(pages.dataset_diff_page(board.dataset_diff(name, a, b), project=project, models=models()))

    @app.get("/datasets/{name}/drift.html", response_class=HTMLResponse)
    def dataset_drift_document(name: str, a: int | None = None, b: int | None = None) -> HTMLResponse:
        return report(board.drift_html(name, a, b))

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(runs: list[str] = Query(default=[])) -> HTMLResponse:
        chosen = [r for ref in runs for r in ref.split(",") if r.strip()]
        if len(set(chosen)) < 2:
            message = "Pick at least two runs." if chosen else ""
            recent = board.runs(per_page=25)
            return _page(pages.compare_pick_page(recent, chosen, project=project, models=models(), message=message))
        return _page(pages.compare_page(board.compare(chosen), project=project, models=models()))

    @app.get("/api/models")
    def api_models() -> JSONResponse:
        return api(board.models())

    @app.get("/api/models/{name}")
    def api_model(name: str) -> JSONResponse:
        return api(board.model(name))

    @app.get("/api/models/{name}/{version}/drift")
    def api_model_drift(name: str, version: int) -> JSONResponse:
        return api(board.model_drift(name, version))

    @app.get("/models", response_class=HTMLResponse)
    def models_page() -> HTMLResponse:
        return _page(pages.models_page(board.models(), project=project, models=models()))

    @app.get("/models/{name}", response_class=HTMLResponse)
    def model_page(name: str) -> HTMLResponse:
        return _page(pages.model_page(board.model(name), project=project, models=models()))

    @app.get("/models/{name}/{version}/drift", response_class=HTMLResponse)
    def model_drift_page(name: str, version: int) -> HTMLResponse:
        data = board.model_drift(name, version)
        return _page(pages.model_drift_page(name, version, data, project=project, models=models()))

    @app.get("/models/{name}/{version}/drift.html", response_class=HTMLResponse)
    def model_drift_document(name: str, version: int) -> HTMLResponse:
        return report(board.model_drift_html(name, version))

    def _page(html: str) -> HTMLResponse:
        return page(html)

    return app


def _same(given: str | bytes, token: str) -> bool:
    # Compare bytes: compare_digest refuses non-ASCII text.
    raw = given if isinstance(given, bytes) else given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(raw, token.encode("utf-8"))


def _bearer_ok(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Header values arrive decoded as Latin-1: back to their bytes, which a UTF-8 token matches.
    return scheme.lower() == "bearer" and _same(given.strip().encode("latin-1", "replace"), token)


def _refuse_method(request: Request) -> Response:
    message = "The dashboard is read-only: it answers GET requests only."
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=405, headers={"Allow": "GET, HEAD"})
    return HTMLResponse(pages.error_page(405, message), status_code=405, headers={"Allow": "GET, HEAD"})


__all__ = ["COOKIE", "build_app"]
