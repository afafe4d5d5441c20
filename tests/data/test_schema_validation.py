"""Schemas inferred from statistics, schema.yaml round trips and errors, and every anomaly kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.config.yamlio import ConfigError
from shipyard.data.schema import (
    DEFAULT_SEVERITY,
    ColumnSchema,
    Schema,
    infer_schema,
    load_schema,
    schema_from_json,
    schema_yaml,
)
from shipyard.data.statistics import compute_statistics
from shipyard.data.validation import (
    Anomaly,
    ValidationFailed,
    ValidationResult,
    schema_types,
    validate_statistics,
)
from shipyard.errors import ShipyardError
from tests.data.support import TAXI_CSV


def _reference(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fare = rng.uniform(3, 60, n).round(2)
    fare[:50] = np.nan  # 10% missing
    return pd.DataFrame(
        {
            "fare": fare,
            "passengers": rng.integers(1, 5, n),
            "payment": rng.choice(["Cash", "Credit Card", "Mobile"], n),
            "company": [f"company {i % 80}" for i in range(n)],  # 80 values: too many to list
            "member": rng.random(n) < 0.4,
            "pickup": pd.Timestamp("2024-01-05 08:00") + pd.to_timedelta(np.linspace(0, 5 * 86_400 + 4 * 3600, n), unit="s"),
            "big_tipper": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _reference()


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> Schema:
    return infer_schema(compute_statistics(reference), label="big_tipper")


def _check(frame: pd.DataFrame, schema: Schema, split: str | None = None) -> ValidationResult:
    return validate_statistics(compute_statistics(frame, types=schema_types(schema)), schema, split=split)


def _only(result: ValidationResult, kind: str) -> list[Anomaly]:
    return [a for a in result.anomalies if a.kind == kind]


# -- inference ------------------------------------------------------------------------------


def test_inferred_schema(schema: Schema, reference: pd.DataFrame) -> None:
    columns = schema.columns
    assert list(columns) == list(reference.columns)
    assert schema.label == "big_tipper"
    assert {n: c.type for n, c in columns.items()} == {
        "fare": "numeric", "passengers": "numeric", "payment": "categorical", "company": "categorical",
        "member": "boolean", "pickup": "datetime", "big_tipper": "numeric",
    }
    # Null share: the share seen plus a 5-point margin, also where none was seen.
    assert columns["fare"].max_null_fraction == pytest.approx(0.15)
    assert columns["payment"].max_null_fraction == pytest.approx(0.05)
    # Ranges: what was seen.
    fare = reference["fare"].dropna()
    assert (columns["fare"].min, columns["fare"].max) == (fare.min(), fare.max())
    assert (columns["passengers"].min, columns["passengers"].max) == (1, 4)
    assert columns["pickup"].min == "2024-01-05 08:00:00"
    assert columns["pickup"].max == "2024-01-10 12:00:00"
    # Categories: listed for few values only.
    assert columns["payment"].categories == ["Cash", "Credit Card", "Mobile"]
    assert columns["company"].categories is None
    assert columns["member"].categories == ["false", "true"]
    assert columns["fare"].categories is None
    assert all(c.required for c in columns.values())


def test_a_schema_validates_the_data_it_was_inferred_from(schema: Schema, reference: pd.DataFrame) -> None:
    result = _check(reference, schema)
    assert result.anomalies == ()
    assert result.ok and result.to_json() == {"ok": True, "errors": 0, "warnings": 0, "anomalies": []}


def test_the_taxi_schema_validates_the_taxi_data() -> None:
    frame = pd.read_csv(TAXI_CSV, low_memory=False)
    schema = infer_schema(compute_statistics(frame), label="big_tipper")
    assert schema.columns["payment_type"].categories is not None
    assert "Cash" in schema.columns["payment_type"].categories
    assert schema.columns["company"].max_null_fraction > 0.3  # a third of the trips lack a company
    assert _check(frame, schema).anomalies == ()
    # A later slice of the same data fits too, except where it is new.
    assert _check(frame.tail(2000), schema).errors == []


def test_schema_yaml_round_trip(schema: Schema, tmp_path: Path) -> None:
    text = schema_yaml(schema)
    assert text.startswith("# Schema:")
    for kind, severity in DEFAULT_SEVERITY.items():
        assert f"  {kind}: {severity}\n" in text
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    loaded = load_schema(path)
    assert loaded.columns == schema.columns and loaded.label == schema.label
    assert loaded.severity == DEFAULT_SEVERITY  # written out in full, ready to edit
    assert all(loaded.severity_of(k) == schema.severity_of(k) for k in DEFAULT_SEVERITY)
    assert load_schema(path) == loaded  # and stable from then on
    assert schema_from_json(json.loads(json.dumps(schema.model_dump(mode="json")))) == schema


def test_a_schema_file_with_mistakes_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(
        "columns:\n"
        "  fare:\n"
        "    type: numbr\n"
        "  payment:\n"
        "    type: categorical\n"
        "    max_null_fraction: 2\n"
        "    colour: red\n"
        "severity:\n"
        "  out_of_range: fatal\n"
    )
    with pytest.raises(ConfigError) as info:
        load_schema(path)
    message = info.value.message
    assert isinstance(info.value, ShipyardError)
    assert f"{path}:3: columns.fare.type: 'numbr' is not one of" in message
    assert "did you mean 'numeric'?" in message
    assert f"{path}:6: columns.payment.max_null_fraction" in message
    assert f"{path}:7: key 'colour' is not allowed here; allowed: type, required" in message
    assert f"{path}:9: severity.out_of_range: 'fatal'" in message

    broken = tmp_path / "broken.yaml"
    broken.write_text("columns:\n  fare: {type: numeric\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(broken))}:\d+: invalid YAML"):
        load_schema(broken)
    with pytest.raises(ConfigError, match="file not found"):
        load_schema(tmp_path / "missing.yaml")


# -- anomalies --------------------------------------------------------------------------------------


def test_missing_and_extra_columns(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.drop(columns=["payment", "big_tipper"]).assign(driver=["x"] * len(reference))
    result = _check(frame, schema, split="serving")
    missing = _only(result, "missing_column")
    assert [(a.column, a.severity, a.split) for a in missing] == [("payment", "error", "serving")]
    assert missing[0].message == "column 'payment' is missing"  # the label may be absent: not reported
    extra = _only(result, "extra_column")
    assert [(a.column, a.severity) for a in extra] == [("driver", "warning")]
    assert "'driver'" in extra[0].message and "not in the schema" in extra[0].message
    assert not result.ok and result.errors == missing

    optional = schema.model_copy(deep=True)
    optional.columns["payment"].required = False
    assert _only(_check(frame, optional), "missing_column") == []


def test_text_in_a_numeric_column_is_a_type_mismatch(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.assign(fare=reference["fare"].astype(str).where(reference.index % 10 != 0, "n/a"))
    result = _check(frame, schema)
    [anomaly] = _only(result, "type_mismatch")
    assert (anomaly.column, anomaly.severity) == ("fare", "error")
    assert anomaly.message.startswith("column 'fare' should be numeric but holds categorical values")
    # Numbers written as text are still numbers once the schema's types are used.
    as_text = reference.assign(passengers=reference["passengers"].astype(str))
    assert _only(_check(as_text, schema), "type_mismatch") == []


def test_numbers_out_of_range(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.copy()
    frame.loc[:4, "fare"] = [0.5, 1.0, 999.0, 1000.0, 2.0]  # 3 below, 2 above
    result = _check(frame, schema)
    anomalies = _only(result, "out_of_range")
    assert [a.severity for a in anomalies] == ["warning", "warning"]
    below, above = anomalies
    assert below.column == above.column == "fare"
    assert below.message.startswith("column 'fare': 3 (0.7%) values below the minimum")
    assert "(lowest 0.5)" in below.message
    assert above.message.startswith("column 'fare': 2 (0.4%) values above the maximum")
    assert "(highest 1000)" in above.message
    assert result.ok  # warnings only

    # One value just past the bound is found, however the sketch buckets it.
    edge = reference.copy()
    edge.loc[0, "passengers"] = 5
    [anomaly] = _only(_check(edge, schema), "out_of_range")
    assert anomaly.message.startswith("column 'passengers': ")
    assert anomaly.message.endswith("values above the maximum 4.0 (highest 5)")


def test_values_at_the_bound_are_not_counted_out_of_range(schema: Schema, reference: pd.DataFrame) -> None:
    edge = reference.copy()
    edge.loc[0, "passengers"] = 5  # one value above 4; a quarter of the rows are exactly 4
    edge.loc[1, "passengers"] = 0  # one value below 1; a quarter of the rows are exactly 1
    below, above = _only(_check(edge, schema), "out_of_range")
    assert below.message.startswith("column 'passengers': 1 (0.2%) values below the minimum 1")
    assert above.message.startswith("column 'passengers': 1 (0.2%) values above the maximum 4")


def test_dates_out_of_range_by_whole_days(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.copy()
    frame.loc[:1, "pickup"] = pd.Timestamp("2024-01-03 10:00")
    frame.loc[2, "pickup"] = pd.Timestamp("2024-02-01")
    anomalies = _only(_check(frame, schema), "out_of_range")
    assert [a.column for a in anomalies] == ["pickup", "pickup"]
    assert "2 (0.4%) values below the minimum 2024-01-05 08:00:00 (lowest 2024-01-03 10:00:00)" in anomalies[0].message
    assert "1 (0.2%) values above the maximum 2024-01-10 12:00:00 (highest 2024-02-01 00:00:00)" in anomalies[1].message


def test_dates_out_of_range_on_the_bounds_own_day(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.copy()
    frame.loc[0, "pickup"] = pd.Timestamp("2024-01-05 06:00")  # 2 h before the minimum
    frame.loc[1, "pickup"] = pd.Timestamp("2024-01-10 18:00")  # 6 h after the maximum
    anomalies = _only(_check(frame, schema), "out_of_range")
    assert [a.column for a in anomalies] == ["pickup", "pickup"]


def test_unseen_categories_and_their_allowed_fraction(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.copy()
    frame.loc[:24, "payment"] = "Bitcoin"  # 25 rows: 5%
    frame.loc[25:29, "payment"] = "Voucher"  # 5 rows: 1%
    [anomaly] = _only(_check(frame, schema), "unseen_categories")
    assert (anomaly.column, anomaly.severity) == ("payment", "warning")
    assert anomaly.message == (
        "column 'payment': 30 (6.0%) values are not among the 3 known categories (e.g. 'Bitcoin', 'Voucher')"
    )
    tolerant = schema.model_copy(deep=True)
    tolerant.columns["payment"].max_unseen_fraction = 0.06
    assert _only(_check(frame, tolerant), "unseen_categories") == []
    tolerant.columns["payment"].max_unseen_fraction = 0.05
    assert len(_only(_check(frame, tolerant), "unseen_categories")) == 1
    # Booleans have the categories 'false' and 'true'.
    flags = reference.assign(member=reference["member"].map({True: "yes", False: "no"}))
    assert _only(_check(flags, schema), "unseen_categories") == []


def test_too_many_missing_values(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.copy()
    frame.loc[50:99, "fare"] = np.nan  # 100 of 500 missing: 20% > 15%
    frame.loc[0:29, "payment"] = None  # 6% > 5%
    anomalies = _only(_check(frame, schema), "null_fraction")
    assert [(a.column, a.severity) for a in anomalies] == [("fare", "error"), ("payment", "error")]
    assert anomalies[0].message == "column 'fare': 20.0% of rows are empty; at most 15.0% allowed"
    assert "'payment': 6.0% of rows are empty; at most 5.0% allowed" in anomalies[1].message
    frame.loc[50:99, "fare"] = 10.0
    frame.loc[50:70, "fare"] = np.nan  # back to 71 of 500 missing: 14.2%, allowed
    assert [a.column for a in _only(_check(frame, schema), "null_fraction")] == ["payment"]


def test_severity_overrides(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.drop(columns=["passengers"]).assign(extra=1)
    frame.loc[0, "fare"] = 1e6
    frame.loc[1, "payment"] = "Bitcoin"
    custom = schema.model_copy(
        update={"severity": {"out_of_range": "error", "missing_column": "warning", "extra_column": "ignore"}}
    )
    result = _check(frame, custom)
    kinds = {a.kind: a.severity for a in result.anomalies}
    assert kinds == {"out_of_range": "error", "missing_column": "warning", "unseen_categories": "warning"}
    assert custom.severity_of("extra_column") == "ignore" and custom.severity_of("null_fraction") == "error"
    assert [a.kind for a in result.errors] == ["out_of_range"]
    assert not result.ok

    default = _check(frame, schema)
    assert {a.kind: a.severity for a in default.anomalies} == {
        "out_of_range": "warning", "missing_column": "error", "unseen_categories": "warning", "extra_column": "warning",
    }


def test_raise_for_errors(schema: Schema, reference: pd.DataFrame) -> None:
    frame = reference.drop(columns=["payment"])
    frame.loc[0, "fare"] = 1e6
    result = _check(frame, schema, split="test")
    with pytest.raises(ValidationFailed) as info:
        result.raise_for_errors("the test split")
    assert isinstance(info.value, ShipyardError) and info.value.exit_code == 2
    assert info.value.message == "1 error(s) in the test split:\n- [test] column 'payment' is missing"
    assert ValidationFailed.headline == "Data validation failed"

    warnings_only = _check(reference.assign(extra=1), schema)
    assert warnings_only.ok and len(warnings_only.warnings) == 1
    warnings_only.raise_for_errors()  # does not raise

    merged = result.merge(warnings_only)
    assert len(merged.anomalies) == len(result.anomalies) + 1
    assert ValidationResult.from_json(json.loads(json.dumps(merged.to_json()))) == merged


def test_the_label_named_by_the_schema_is_not_an_extra_column(reference: pd.DataFrame) -> None:
    schema = Schema(columns={"fare": ColumnSchema(type="numeric", max_null_fraction=0.2)}, label="big_tipper")
    result = _check(reference[["fare", "big_tipper"]], schema)
    assert _only(result, "extra_column") == []
