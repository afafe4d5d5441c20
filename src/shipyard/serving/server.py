"""``shipyard.serving.server`` provides starting the service: resolve a bundle, run uvicorn.

``shipyard serve`` calls :func:`serve`. With several workers, uvicorn starts
each from :func:`app_from_env`, which reads the same settings from the
environment and loads the bundle in the worker. A model from the registry
(``NAME@production``) is resolved to its version once, before the workers
start, so they all serve the same one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from fastapi import FastAPI

ENV_CONFIG = "SHIPYARD_SERVE_CONFIG"


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
    requested: str | None = None


def is_registry_ref(client: Any, ref: str) -> bool:
    """True when ``ref`` names a registered model: ``NAME@REF``, or a model's bare name.

    A bare name is the model's only when a model of that name exists (it wins
    over a run id prefix spelled the same); ``latest`` and folders never are.
    """
    from shipyard.config.spec import MODEL_NAME

    if "@" in ref:
        return True
    if ref == "latest" or Path(ref).exists() or not MODEL_NAME.fullmatch(ref):
        return False
    return ref in client.models.tables.names()


def resolve(ref: str, project: str | None, *, trust: bool, onnx: bool = False) -> tuple[Any, Any, Any]:
    """The predictor, service info and artifact store for a run, a bundle or a registered model.

    ``ref`` is a run id, a bundle id, ``latest``, or a model from the registry:
    ``NAME@production``, ``NAME@staging``, ``NAME@3``, ``NAME@champion``,
    ``NAME@latest`` or ``NAME`` alone (its production version). With
    ``onnx``, the predictor runs the model with ONNX Runtime when it can (see
    :mod:`shipyard.bundle.onnx`).

    Raises:
        ShipyardError: when nothing matches.
    """
    from shipyard.client import Client
    from shipyard.serving.app import ServiceInfo

    client = Client(project)
    version = client.models.resolve(ref) if is_registry_ref(client, ref) else None
    record = client.metadata_store.get_artifact(version.bundle_id) if version else client.find_bundle(ref)
    predictor = client.load_bundle(record.id, trust=trust)
    bundle = predictor.bundle
    if onnx:
        from shipyard.bundle.bundle import Predictor

        predictor = Predictor(bundle, runtime="onnx")
    run = _run_or_none(client, bundle.run_id)
    info = ServiceInfo(
        name=run.pipeline if run is not None else "model",
        version=record.id[:12],
        bundle_id=record.id,
        run_id=bundle.run_id,
        data_version=bundle.data_version,
        metrics=dict(bundle.metrics),
    )
    if version is not None:
        info.name, info.version = version.model, str(version.version)
        info.registry = {
            "model": version.model,
            "version": version.version,
            "stage": version.stage,
            "aliases": list(version.aliases),
            "ref": ref,
        }
    return predictor, info, client.artifact_store


def _run_or_none(client: Any, run_id: str | None) -> Any:
    """The run that made a bundle; None for a bundle made elsewhere (e.g. registered from a folder)."""
    from shipyard.errors import RunNotFound

    if not run_id:
        return None
    try:
        return client.get_run(run_id)
    except RunNotFound:
        return None


def pinned(config: ServeConfig) -> ServeConfig:
    """The config with a registry reference fixed to the version it names now (for workers)."""
    from shipyard.client import Client

    with Client(config.project) as client:
        if not is_registry_ref(client, config.ref):
            return config
        version = client.models.resolve(config.ref)
    return replace(config, ref=version.ref, requested=config.requested or config.ref)


def make_app(config: ServeConfig) -> FastAPI:
    """The app for a config: resolve the bundle, set up the log, build the service."""
    from shipyard.serving.app import ServiceOptions, build_app
    from shipyard.serving.log import PredictionLog

    predictor, info, store = resolve(config.ref, config.project, trust=config.trust, onnx=config.onnx)
    if info.registry is not None and config.requested:
        info.registry["ref"] = config.requested
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
        os.environ[ENV_CONFIG] = json.dumps(asdict(pinned(config)))
        uvicorn.run(
            "shipyard.serving.server:app_from_env", factory=True, host=host, port=port,
            workers=workers, log_level="info", access_log=access_log, timeout_graceful_shutdown=30,
        )
        return
    app = make_app(config)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, timeout_graceful_shutdown=30)


__all__ = ["ServeConfig", "app_from_env", "is_registry_ref", "make_app", "pinned", "read_token", "resolve", "serve"]
