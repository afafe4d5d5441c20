"""``shipyard.bundle.onnx`` runs a bundle's model with ONNX Runtime (optional).

Only the *model* is converted: Shipyard's own preprocessing transformers have
no ONNX converters, so the preprocessing stays on the compiled NumPy fast path
(:mod:`shipyard.bundle.fastpath`) and ONNX Runtime takes the matrix it builds.
For a one-record prediction the scikit-learn model call is most of the time
(about 0.3 ms for 200 histogram-boosted trees); ONNX Runtime does it in a few
tens of microseconds.

The conversion uses skl2onnx's registered converters (the ``onnx`` extra:
``pip install 'shipyard[onnx]'``). ONNX Runtime computes in float32, so before
it is used the converted model is checked against the scikit-learn model on
synthetic records (through the fast path): probabilities within ``tolerance``
(absolute), the same labels except where scikit-learn's two largest
probabilities are within ``tolerance`` of each other, and for regressors
``|onnx - sklearn| <= tolerance * (1 + |sklearn|)``. A model that cannot be
converted, or whose answers differ, stays on scikit-learn (the reason is
logged and kept by the predictor).

skl2onnx and onnxruntime are imported inside the functions, never at import
time, so ``import shipyard`` and the CLI stay fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import ShipyardError

logger = logging.getLogger(__name__)

PARITY_ROWS = 200
TOLERANCE = 1e-4
INSTALL_HINT = "Install the extra: pip install 'shipyard[onnx]'"
_NO_CONVERTER_FAMILIES = {
    "xgboost": "XGBoost",
    "lightgbm": "LightGBM",
    "shipyard.bundle.io": "LightGBM",  # a LightGBM Booster loaded from its text format
}


def _short(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line (skl2onnx's messages can hold whole models)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _class_name(model: Any) -> str:
    return type(model).__name__


def is_classifier(model: Any) -> bool:
    """True for models that predict classes (they have ``classes_``)."""
    return hasattr(model, "classes_")


def input_width(bundle: Any) -> int:
    """The number of columns of the preprocessed matrix the model takes.

    Raises:
        ShipyardError: when neither the model nor the preprocessor tells.
    """
    width = getattr(bundle.model, "n_features_in_", None)
    if width is not None:
        return int(width)
    names = feature_names(bundle.preprocessor)
    if names is not None:
        return len(names)
    raise ShipyardError(
        f"Cannot tell how many columns {_class_name(bundle.model)} takes (it has no n_features_in_)."
    )


def feature_names(preprocessor: Any) -> list[str] | None:
    """The preprocessed matrix's column names, or None when the preprocessor cannot tell."""
    if not hasattr(preprocessor, "get_feature_names_out"):
        return None
    try:
        return [str(n) for n in preprocessor.get_feature_names_out()]
    except Exception:  # a step without feature names
        return None


def _int_attributes(value: Any) -> Any:
    """Booleans in an integer attribute list as 0/1 (protobuf refuses booleans there)."""
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
        return [int(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype == bool:
        return value.astype(np.int64)
    return value


def _bool_safe(converter: Any) -> Callable[..., None]:
    """A skl2onnx converter, with boolean attribute lists passed as integers.

    Some converters (histogram gradient boosting) put Python booleans in
    integer attributes, which recent protobuf releases reject.
    """

    def convert(scope: Any, operator: Any, container: Any) -> None:
        add_node = container.add_node

        def safe_add_node(op_type: Any, inputs: Any, outputs: Any, op_domain: str = "", op_version: Any = None, name: Any = None, **attrs: Any) -> Any:
            attrs = {k: _int_attributes(v) for k, v in attrs.items()}
            return add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, name=name, **attrs)

        container.add_node = safe_add_node
        try:
            converter(scope, operator, container)
        finally:
            del container.add_node

    return convert


def convert_model(bundle: Any) -> bytes:
    """The bundle's model as a serialized ONNX model.

    Its input ``input`` is a float32 matrix of the preprocessed columns (see
    :func:`input_width`); a classifier's outputs are ``label`` (the model's
    class values, as its ``predict``) and ``probabilities`` (a plain tensor, one
    column per class); a regressor's output is the predicted values.

    Raises:
        ShipyardError: when the onnx extra is missing or the model cannot be converted
            (the message names the model class and why).
    """
    model = bundle.model
    name = _class_name(model)
    try:
        from skl2onnx import convert_sklearn, get_model_alias
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        raise ShipyardError(
            f"Converting a model to ONNX needs skl2onnx and onnxruntime ({_short(exc)}).",
            hint=INSTALL_HINT,
        ) from exc
    try:
        alias = get_model_alias(type(model))
    except Exception:
        family = next(
            (label for prefix, label in _NO_CONVERTER_FAMILIES.items() if type(model).__module__.startswith(prefix)),
            None,
        )
        why = (
            f"{family} models are converted by onnxmltools, which Shipyard does not use"
            if family
            else "skl2onnx has no converter for it"
        )
        raise ShipyardError(f"Cannot convert {name} ({type(model).__module__}) to ONNX: {why}.") from None
    width = input_width(bundle)
    try:
        from skl2onnx.common._registration import get_converter

        converter = get_converter(alias)
        allowed = converter.get_allowed_options() or {}
    except Exception:  # a skl2onnx without these internals: convert as it is
        converter, allowed = None, {"zipmap": None} if is_classifier(model) else {}
    # Probabilities as a plain tensor, not a list of {class: probability} maps.
    options = {id(model): {"zipmap": False}} if is_classifier(model) and "zipmap" in allowed else None
    try:
        onx = convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, width]))],
            options=options,
            custom_conversion_functions={type(model): _bool_safe(converter)} if converter is not None else None,
        )
    except Exception as exc:
        raise ShipyardError(f"Cannot convert {name} to ONNX: skl2onnx failed with {_short(exc)}.") from exc
    return bytes(onx.SerializeToString())


class OnnxModel:
    """A converted model run by an ``onnxruntime.InferenceSession`` (1 thread, sequential).

    ``predict`` and ``predict_proba`` mean what the scikit-learn model's do: the
    model's class values (Shipyard's classifiers predict class indices, the
    positions in ``bundle.classes``) or the predicted numbers, and one
    probability column per class. Safe to share between threads.

    Raises:
        ShipyardError: when onnxruntime is missing or cannot load the model.
    """

    def __init__(self, content: bytes, *, classifier: bool) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ShipyardError(f"Running ONNX models needs onnxruntime ({_short(exc)}).", hint=INSTALL_HINT) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ShipyardError(f"ONNX Runtime cannot load the converted model: {_short(exc)}.") from exc
        self.classifier = classifier
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        if classifier and len(self.output_names) < 2:
            raise ShipyardError("The converted classifier has no probability output.")
        self.n_features_in_ = self.session.get_inputs()[0].shape[1]

    def _run(self, matrix: Any, output: str) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(matrix, dtype=np.float32)}
        return np.asarray(self.session.run([output], feed)[0])

    def predict(self, matrix: Any) -> np.ndarray:
        """Class values (classifiers) or predicted numbers (float64), one per row."""
        out = self._run(matrix, self.output_names[0])
        return out.ravel() if self.classifier else out.reshape(len(out), -1)[:, 0].astype(np.float64)

    def predict_proba(self, matrix: Any) -> np.ndarray:
        """Class probabilities (float64), one column per class."""
        if not self.classifier:
            raise ShipyardError("A regressor gives no class probabilities.")
        return self._run(matrix, self.output_names[1]).astype(np.float64)


@dataclass(frozen=True)
class Parity:
    """How the ONNX model's answers compare with the scikit-learn model's on some rows.

    Attributes:
        rows: rows compared.
        max_diff: largest absolute difference of a probability (classifiers) or
            a prediction (regressors).
        problem: why they do not match, or None when they do.
    """

    rows: int
    max_diff: float
    problem: str | None = None


def compare(model: Any, onnx_model: Any, matrix: Any, *, tolerance: float = TOLERANCE) -> Parity:
    """Compare the ONNX model with the scikit-learn model on a preprocessed matrix.

    Classifiers: probabilities within ``tolerance`` (absolute) and the same
    labels, except rows whose two largest scikit-learn probabilities are within
    ``tolerance`` of each other (ties either may break). Regressors:
    ``|onnx - sklearn| <= tolerance * (1 + |sklearn|)``.
    """
    from shipyard.bundle.bundle import _predict_is_argmax

    matrix = np.asarray(matrix, dtype=np.float64)
    rows = len(matrix)
    if not is_classifier(model):
        expected = np.asarray(model.predict(matrix), dtype=np.float64).ravel()
        got = np.asarray(onnx_model.predict(matrix), dtype=np.float64).ravel()
        if got.shape != expected.shape:
            return Parity(rows, float("inf"), f"ONNX gives {got.shape} predictions, scikit-learn {expected.shape}")
        diff = _abs_diff(got, expected)
        bad = diff > tolerance * (1 + np.abs(expected))
        max_diff = float(diff.max()) if diff.size else 0.0
        if bad.any():
            return Parity(rows, max_diff, f"predictions differ on {int(bad.sum())} of {rows} rows (largest difference {max_diff:.3g}, tolerance {tolerance:g} × (1 + |y|))")
        return Parity(rows, max_diff)
    if not hasattr(model, "predict_proba"):
        expected_labels = np.asarray(model.predict(matrix))
        differ = int((np.asarray(onnx_model.predict(matrix)) != expected_labels).sum())
        if differ:
            return Parity(rows, 0.0, f"labels differ on {differ} of {rows} rows")
        return Parity(rows, 0.0)
    expected = np.asarray(model.predict_proba(matrix), dtype=np.float64)
    got = np.asarray(onnx_model.predict_proba(matrix), dtype=np.float64)
    if got.shape != expected.shape:
        return Parity(rows, float("inf"), f"ONNX gives probabilities of shape {got.shape}, scikit-learn {expected.shape}")
    diff = _abs_diff(got, expected)
    max_diff = float(diff.max()) if diff.size else 0.0
    bad = diff > tolerance
    if bad.any():
        count = int(bad.any(axis=1).sum())
        return Parity(rows, max_diff, f"probabilities differ by up to {max_diff:.3g} on {count} of {rows} rows (tolerance {tolerance:g})")
    # The labels as the predictor takes them: argmax of the probabilities or predict().
    if _predict_is_argmax(model):
        expected_labels, got_labels = expected.argmax(axis=1), got.argmax(axis=1)
    else:
        expected_labels, got_labels = np.asarray(model.predict(matrix)), np.asarray(onnx_model.predict(matrix))
    differ = np.asarray(expected_labels != got_labels)
    if differ.any():
        top2 = np.sort(expected, axis=1)[:, -2:] if expected.shape[1] > 1 else np.zeros((rows, 2))
        tie = (top2[:, 1] - top2[:, 0]) <= tolerance
        real = differ & ~tie
        if real.any():
            return Parity(rows, max_diff, f"labels differ on {int(real.sum())} of {rows} rows")
    return Parity(rows, max_diff)


def _abs_diff(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected|, infinite where either is not a number (unless both are the same)."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - expected)
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    return np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))


def synthetic_matrix(bundle: Any, fast: Any, rows: int = PARITY_ROWS) -> np.ndarray:
    """Synthetic records of the bundle's input schema through the compiled preprocessing."""
    from shipyard.bundle.fastpath import synthetic_records

    records = synthetic_records(bundle.schema, bundle.features, rows)
    return np.vstack([fast.transform_record(r) for r in records])


def reference_matrix(bundle: Any, rows: int = PARITY_ROWS) -> np.ndarray:
    """Synthetic records of the bundle's input schema through the fitted preprocessor itself."""
    import pandas as pd

    from shipyard.bundle.fastpath import synthetic_records

    frame = pd.DataFrame(synthetic_records(bundle.schema, bundle.features, rows), columns=list(bundle.features))
    for name, kind in bundle.features.items():
        if kind == "numeric":
            frame[name] = pd.to_numeric(frame[name])
    out = bundle.preprocessor.transform(frame)
    return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float64)


def compile_onnx(
    bundle: Any, fast: Any, *, check_rows: int = PARITY_ROWS, tolerance: float = TOLERANCE
) -> tuple[OnnxModel | None, str]:
    """The bundle's model on ONNX Runtime, checked against scikit-learn, or None and why.

    ``fast`` is the bundle's compiled preprocessing (:func:`shipyard.bundle.fastpath.compile_fast_path`);
    the check runs ``check_rows`` synthetic records through it. On success the
    reason says how close the answers were.
    """
    if fast is None:
        return _fallback("the compiled preprocessing (fast path) is not available for this bundle, and ONNX runs only behind it")
    try:
        onnx_model = OnnxModel(convert_model(bundle), classifier=is_classifier(bundle.model))
    except ShipyardError as exc:
        return _fallback(str(exc).replace("\n", " "))
    except Exception as exc:  # anything unexpected: stay on scikit-learn
        return _fallback(f"converting {_class_name(bundle.model)} failed: {_short(exc)}")
    try:
        parity = compare(bundle.model, onnx_model, synthetic_matrix(bundle, fast, check_rows), tolerance=tolerance)
    except Exception as exc:
        return _fallback(f"the parity check failed to run: {_short(exc)}")
    if parity.problem is not None:
        return _fallback(f"its ONNX answers differ from scikit-learn's: {parity.problem}")
    reason = (
        f"{_class_name(bundle.model)} runs on ONNX Runtime; on {parity.rows} synthetic records it matches "
        f"scikit-learn within {tolerance:g} (largest difference {parity.max_diff:.2g})"
    )
    logger.info("%s", reason)
    return onnx_model, reason


def _fallback(reason: str) -> tuple[None, str]:
    logger.warning("ONNX Runtime not used, the model runs on scikit-learn: %s", reason)
    return None, reason


__all__ = [
    "OnnxModel",
    "Parity",
    "compare",
    "compile_onnx",
    "convert_model",
    "feature_names",
    "input_width",
    "is_classifier",
    "reference_matrix",
    "synthetic_matrix",
]
