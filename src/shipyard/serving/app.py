"""``shipyard.serving.app`` provides the HTTP prediction service around a bundle's Predictor.

Endpoints: ``POST /predict`` (one record or a list), ``GET /health``,
``GET /ready``, ``GET /metadata``, ``GET /metrics`` (Prometheus text),
``GET /drift`` (logged traffic vs training statistics) and OpenAPI docs at
``/docs`` whose request schema comes from the bundle's input schema.

A client's mistake is never a 500: malformed JSON, a missing field, a wrong
type or a value outside the schema's domain is a 422 naming each bad field;
too many records (or too large a body) is a 413. Endpoints that call the
model are plain functions, run in the server's thread pool.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shipyard.serving.metrics import Metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

    from shipyard.bundle.bundle import Predictor
    from shipyard.serving.log import PredictionLog

logger = logging.getLogger(__name__)
MAX_DOMAIN = 50
OPEN_PATHS = {"/health", "/ready"}


@dataclass
class ServiceInfo:
    """What the service says about its model."""

    name: str
    version: str
    bundle_id: str
    run_id: str | None = None
    data_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: When served from the model registry: model, version, stage, aliases, ref.
    registry: dict[str, Any] | None = None


@dataclass
class ServiceOptions:
    """How the service behaves.

    Attributes:
        token: a bearer token every request but ``/health`` and ``/ready`` must carry.
        max_records: records per request above which it is refused (413).
        max_body_bytes: request bodies above this size are refused (413).
    """

    token: str | None = None
    max_records: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024


def _severity(predictor: Predictor, kind: str) -> str:
    from shipyard.data.schema import DEFAULT_SEVERITY

    schema = predictor.bundle.data_schema or {}
    return str((schema.get("severity") or {}).get(kind, DEFAULT_SEVERITY[kind]))


def _strict_domains(predictor: Predictor) -> dict[str, list[str]]:
    """Columns whose values must be among the schema's categories.

    Only when the schema makes unseen categories an error; by default they
    are counted (``/metrics``) and encoded as the model's "other" bucket.
    """
    if _severity(predictor, "unseen_categories") != "error":
        return {}
    schema = predictor.bundle.data_schema or {}
    out = {}
    for name, column in (schema.get("columns") or {}).items():
        categories = column.get("categories")
        if categories is not None and len(categories) <= MAX_DOMAIN and predictor.bundle.features.get(name) == "categorical":
            out[name] = [str(c) for c in categories]
    return out


def _strict_ranges(predictor: Predictor) -> dict[str, tuple[float, float]]:
    """Numeric ranges requests must respect (when the schema makes out-of-range an error)."""
    if _severity(predictor, "out_of_range") != "error":
        return {}
    schema = predictor.bundle.data_schema or {}
    return {
        name: (float(column["min"]), float(column["max"]))
        for name, column in (schema.get("columns") or {}).items()
        if predictor.bundle.features.get(name) == "numeric"
        and column.get("min") is not None
        and column.get("max") is not None
    }


def _nullable(predictor: Predictor, name: str) -> bool:
    info = predictor.bundle.schema.get("columns", {}).get(name, {})
    return float(info.get("null_fraction", 0.0)) > 0


def record_model(predictor: Predictor) -> Any:
    """The pydantic model of one input record, from the bundle's input schema."""
    from typing import Annotated

    from pydantic import (
        AfterValidator,
        BeforeValidator,
        ConfigDict,
        Field,
        create_model,
    )

    domains = _strict_domains(predictor)
    ranges = _strict_ranges(predictor)
    columns = predictor.bundle.schema.get("columns", {})
    finite = Annotated[float, Field(allow_inf_nan=False)]
    fields: dict[str, Any] = {}
    for name, kind in predictor.bundle.features.items():
        info = columns.get(name, {})
        extra: dict[str, Any] = {}
        if kind == "numeric":
            # Constraints sit on the float itself so that they hold inside `float | None` too.
            limits: dict[str, Any] = {"allow_inf_nan": False}
            if info.get("min") is not None:
                extra["examples"] = [info["min"]]
            description = f"a number (seen in training: {info.get('min')} to {info.get('max')})"
            bounds = ranges.get(name)
            if bounds is not None:
                limits["ge"], limits["le"] = bounds
                description = f"a number from {bounds[0]} to {bounds[1]}"
            annotation: Any = Annotated[float, Field(**limits)]
        elif kind == "boolean":
            annotation = bool
            description = "true or false"
        elif kind == "datetime":
            annotation = dt.datetime | float
            description = "a date and time (ISO 8601) or Unix seconds"
        elif kind == "categorical":
            if name in domains:
                annotation = Annotated[str | int | finite, AfterValidator(_in_domain(domains[name]))]
                extra["json_schema_extra"] = {"enum": domains[name]}
                description = f"one of {', '.join(domains[name])}"
            else:
                annotation = str | int | finite
                known = info.get("categories") or []
                description = "a category" + (f", e.g. {', '.join(map(str, known[:5]))}" if known else "")
        else:
            annotation = str
            description = "free text"
        if _nullable(predictor, name):
            # An empty string (a blank CSV cell sent as JSON) is a missing value.
            nullable = Annotated[annotation | None, BeforeValidator(_blank_is_none)]
            fields[name] = (nullable, Field(None, description=description + " (may be null)", **extra))
        else:
            fields[name] = (annotation, Field(..., description=description, **extra))
    if not fields:
        raise ValueError("the bundle has no features")
    return create_model("Record", __config__=ConfigDict(extra="ignore", coerce_numbers_to_str=True), **fields)


_threads = threading.local()


def _predict_one_thread(predictor: Predictor, records: list[dict[str, Any]]) -> Any:
    """Predict with native thread pools limited to one thread in this thread.

    OpenMP's limit belongs to each thread, so every thread that predicts sets
    it once: one-record predictions gain nothing from a pool, and on a busy
    machine a pool's spinning workers stall requests for hundreds of ms.
    """
    if not getattr(_threads, "limited", False):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        _threads.limited = True
    return predictor.predict_records_with_report(records)


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _in_domain(allowed: list[str]) -> Any:
    from shipyard.bundle.transformers import _category_text

    known = set(allowed)

    def check(value: Any) -> Any:
        if _category_text(value) not in known:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


def _coerced(record: Any, predictor: Predictor) -> dict[str, Any]:
    """A validated record as plain values (categories given as numbers keep their text)."""
    out = {}
    for name in predictor.bundle.features:
        out[name] = getattr(record, name)
    return out


def _problems(exc: Any) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        # Drop pydantic's union-branch labels from the location.
        loc = [p for p in loc if not p.startswith(("function-", "literal[")) and p not in ("str", "int", "float", "bool", "datetime", "list[Record]", "Record")]
        message = str(err["msg"])
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "")
            out.append({"field": None, "message": f"the body is not valid JSON ({reason})".replace(" ()", "")})
            continue
        entry: dict[str, Any] = {
            "field": ".".join(loc) or None,
            "message": message.removeprefix("Value error, "),
        }
        if err.get("type") == "missing":
            entry["message"] = "this field is required"
        if "input" in err and err.get("type") != "missing":
            given = err["input"]
            plain = isinstance(given, (str, int, bool)) or given is None or (isinstance(given, float) and math.isfinite(given))
            entry["got"] = given if plain else (str(given) if isinstance(given, float) else type(given).__name__)
        expected = err.get("ctx", {}).get("expected")
        if expected:
            entry["expected"] = expected
        out.append(entry)
    return out


def build_app(
    predictor: Predictor,
    info: ServiceInfo,
    *,
    options: ServiceOptions | None = None,
    log: PredictionLog | None = None,
) -> FastAPI:
    """The FastAPI app serving ``predictor``.

    Args:
        predictor: the bundle's predictor (its fast path is compiled at startup).
        info: name, version and ids shown by ``/metadata`` and in responses.
        options: token and size limits.
        log: where predictions are logged (None: no log).
    """
    from contextlib import asynccontextmanager

    from fastapi import Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from pydantic import TypeAdapter, ValidationError

    options = options or ServiceOptions()
    metrics = Metrics()
    Record = record_model(predictor)
    single = TypeAdapter(Record)
    many = TypeAdapter(list[Record])
    state = {"ready": False}
    model_info = {"name": info.name, "version": info.version}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        predictor.fast_path  # noqa: B018 - compile (and check) the fast path before serving
        if log is not None:
            log.start()
        state["ready"] = True
        yield
        state["ready"] = False
        if log is not None:
            log.close()

    app = FastAPI(
        title=f"{info.name} — Shipyard prediction service",
        version=info.version,
        description=(
            f"Predicts `{predictor.bundle.label.get('name')}` ({predictor.bundle.task}) from raw "
            "records with the preprocessing the model was trained with."
        ),
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        if options.token and request.url.path not in OPEN_PATHS and not _authorized(request, options.token):
            response: Any = JSONResponse(
                {"detail": "missing or wrong bearer token"}, status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            try:
                response = await call_next(request)
            except Exception:
                metrics.observe_request(request.url.path, 500, time.perf_counter() - started)
                raise
        metrics.observe_request(request.url.path, response.status_code, time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.observe_validation_failure()
        return JSONResponse({"detail": _problems(exc)}, status_code=422)

    @app.get("/health", summary="The process is alive", response_model=None)
    def health() -> Any:
        return {"status": "ok"}

    @app.get("/ready", summary="The bundle is loaded and the service takes requests", response_model=None)
    def ready() -> Any:
        if state["ready"]:
            return JSONResponse({"status": "ready", "fast_path": predictor.fast_path, "model_runtime": predictor.model_runtime})
        return JSONResponse({"status": "starting"}, status_code=503)

    @app.get("/metadata", summary="The model: name, version, run, data version, input schema, metrics", response_model=None)
    def metadata() -> Any:
        return {
            "name": info.name,
            "version": info.version,
            "registry": info.registry,
            "bundle_id": info.bundle_id,
            "run_id": info.run_id,
            "data_version": info.data_version,
            "task": predictor.bundle.task,
            "label": predictor.bundle.label,
            "features": dict(predictor.bundle.features),
            "input_schema": Record.model_json_schema(),
            "metrics": dict(info.metrics),
            "fast_path": predictor.fast_path,
            "model_runtime": predictor.model_runtime,
        }

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics", response_model=None)
    def prometheus() -> Any:
        return metrics.render()

    @app.get("/drift", summary="Drift of the logged traffic from the training statistics", response_model=None)
    def drift(format: Literal["json", "html"] = "json") -> Any:
        from shipyard.data.drift import compare
        from shipyard.data.statistics import Statistics

        if log is None or predictor.bundle.statistics is None:
            return JSONResponse({"detail": "drift needs the prediction log and a bundle with training statistics"}, status_code=404)
        current = log.current_statistics()
        if current is None:
            return JSONResponse({"detail": "no traffic logged yet"}, status_code=404)
        reference = Statistics.from_json(predictor.bundle.statistics)
        report = compare(reference, current)
        if format == "html":
            from shipyard.data.reports import drift_html

            return HTMLResponse(drift_html(report, reference, current, title=f"Drift of {info.name} traffic", labels=("training", "traffic")))
        return report.to_json()

    record_schema = Record.model_json_schema()

    @app.post(
        "/predict",
        summary="Predict one record or a list of records",
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Record"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                ]}}},
            }
        },
    )
    async def predict(payload: Any = Body(...)) -> Any:
        request_id = uuid.uuid4().hex[:16]
        if not isinstance(payload, (dict, list)):
            metrics.observe_validation_failure()
            return JSONResponse(
                {
                    "detail": [{"field": None, "message": "expected a JSON object (one record) or a list of objects"}],
                    "request_id": request_id,
                },
                status_code=422,
            )
        is_list = isinstance(payload, list)
        if is_list and len(payload) > options.max_records:
            return JSONResponse(
                {"detail": f"{len(payload)} records; at most {options.max_records} per request", "request_id": request_id},
                status_code=413,
            )
        if is_list and not payload:
            return JSONResponse({"detail": [{"field": None, "message": "the list of records is empty"}], "request_id": request_id}, status_code=422)
        try:
            parsed = many.validate_python(payload) if is_list else [single.validate_python(payload)]
        except ValidationError as exc:
            metrics.observe_validation_failure()
            return JSONResponse({"detail": _problems(exc), "request_id": request_id}, status_code=422)
        records = [_coerced(r, predictor) for r in parsed]
        results, report = _predict_one_thread(predictor, records)
        labels = [str(r["prediction"]) if predictor.bundle.classes is not None else "value" for r in results]
        metrics.observe_predictions(labels, report.unseen)
        if log is not None:
            log.append(records, [r["prediction"] for r in results], version=info.version, request_id=request_id)
        body: dict[str, Any]
        if is_list:
            body = {"predictions": results, "model": model_info, "request_id": request_id}
        else:
            body = {**results[0], "model": model_info, "request_id": request_id}
        return JSONResponse(body)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Record"] = {k: v for k, v in record_schema.items() if k != "$defs"}
            components.update(record_schema.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyGuard, limit=options.max_body_bytes, metrics=metrics)
    return app


class BodyGuard:
    """Reads each request body whole (up to ``limit`` bytes) before the app sees it.

    A body over the limit is a 413, whether or not it declared its length; a
    ``/predict`` body that is not JSON text (invalid UTF-8 included) is a 422
    with the usual detail, instead of the framework's bare 400.
    """

    def __init__(self, app: Any, *, limit: int, metrics: Metrics) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # a disconnect: let the app see it
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _respond(send, 413, {"detail": f"the request body is over {self.limit} bytes"})
                self.metrics.observe_request(scope["path"], 413, 0.0)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if scope["path"] == "/predict":
            problem = _json_problem(body)
            if problem is not None:
                self.metrics.observe_validation_failure()
                self.metrics.observe_request(scope["path"], 422, 0.0)
                await _respond(send, 422, {"detail": [{"field": None, "message": problem}]})
                return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _json_problem(body: bytes) -> str | None:
    import json

    try:
        # NaN and Infinity parse here; the record model refuses them, naming the field.
        json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "the body is not valid JSON (not UTF-8 text)"
    except ValueError as exc:
        return f"the body is not valid JSON ({exc.msg})"
    return None


async def _respond(send: Any, status: int, payload: Any) -> None:
    import json

    data = json.dumps(payload).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
    })
    await send({"type": "http.response.body", "body": data})


def _authorized(request: Any, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    # Compare bytes: compare_digest refuses non-ASCII text, and a header may hold any.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    )


__all__ = ["ServiceInfo", "ServiceOptions", "build_app", "record_model"]
