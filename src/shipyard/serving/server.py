"""``shipyard.serving.server`` provides starting the service: resolve a bundle, run uvicorn.

``shipyard serve`` calls :func:`serve`. With several workers, uvicorn starts
each from :func:`app_from_env`, which reads the same settings from the
environment and loads the bundle in the worker.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from fastapi import FastAPI

ENV_CONFIG = "SHIPYARD_SERVE_CONFIG"
STAGE_REF = re.compile(r"^(?P<model>[A-Za-z0-9_][\w.-]*)@(?P<stage>staging|production|archived|latest|\d+)$")


@dataclass(frozen=True)
class ServeConfig:
    """What to serve and how (passed to workers through the environment)."""

    ref: str
    project: str | None = None
    token: str | None = None
    max_records: int = 1000
    log: bool = True
    log_interval: float = 5.0
    trust: bool = False
    onnx: bool = False


def resolve(ref: str, project: str | None, *, trust: bool, onnx: bool = False) -> tuple[Any, Any, Any]:
    """The predictor, service info and artifact store for a run, bundle or ``MODEL@STAGE``.

    With ``onnx``, the predictor runs the model with ONNX Runtime when it can
    (see :mod:`shipyard.bundle.onnx`).

    Raises:
        ShipyardError: when nothing matches.
    """
    from shipyard.client import Client
    from shipyard.serving.app import ServiceInfo

    client = Client(project)
    if STAGE_REF.match(ref) and not ref.startswith("latest"):
        registry = getattr(client, "registry", None)
        if registry is None:
            raise ShipyardError(
                f"{ref!r} names a model in the registry, which this version does not have yet.",
                hint="Serve a run (shipyard serve RUN_ID), a bundle id, or latest.",
            )
    record = client.find_bundle(ref)
    predictor = client.load_bundle(record.id, trust=trust)
    bundle = predictor.bundle
    if onnx:
        from shipyard.bundle.bundle import Predictor

        predictor = Predictor(bundle, runtime="onnx")
    run = client.get_run(bundle.run_id) if bundle.run_id else None
    info = ServiceInfo(
        name=run.pipeline if run is not None else "model",
        version=record.id[:12],
        bundle_id=record.id,
        run_id=bundle.run_id,
        data_version=bundle.data_version,
        metrics=dict(bundle.metrics),
    )
    return predictor, info, client.artifact_store


def make_app(config: ServeConfig) -> FastAPI:
    """The app for a config: resolve the bundle, set up the log, build the service."""
    from shipyard.serving.app import ServiceOptions, build_app
    from shipyard.serving.log import PredictionLog

    predictor, info, store = resolve(config.ref, config.project, trust=config.trust, onnx=config.onnx)
    log = (
        PredictionLog(store, info.bundle_id, predictor.bundle.features, interval=config.log_interval)
        if config.log
        else None
    )
    options = ServiceOptions(token=config.token, max_records=config.max_records)
    return build_app(predictor, info, options=options, log=log)


def app_from_env() -> FastAPI:
    """The app described by ``SHIPYARD_SERVE_CONFIG`` (uvicorn's factory for workers)."""
    return make_app(ServeConfig(**json.loads(os.environ[ENV_CONFIG])))


def read_token(path: Path) -> str:
    """A bearer token from a file (stripped).

    Raises:
        ShipyardError: when it is missing or empty.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ShipyardError(f"Cannot read the token file {path}: {exc.strerror or exc}.") from exc
    if not token:
        raise ShipyardError(f"The token file {path} is empty.")
    return token


def serve(config: ServeConfig, *, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Run the service until interrupted (in-flight requests finish, the log is flushed)."""
    import uvicorn

    if workers > 1:
        os.environ[ENV_CONFIG] = json.dumps(asdict(config))
        uvicorn.run(
            "shipyard.serving.server:app_from_env", factory=True, host=host, port=port,
            workers=workers, log_level="info", access_log=access_log, timeout_graceful_shutdown=30,
        )
        return
    app = make_app(config)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, timeout_graceful_shutdown=30)


__all__ = ["ServeConfig", "app_from_env", "make_app", "read_token", "resolve", "serve"]
