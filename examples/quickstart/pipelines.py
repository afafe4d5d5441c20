"""A small Python pipeline on the Chicago taxi trips: will a rider tip over 20%?

Run it from the repository root:

    shipyard run examples/quickstart/pipelines.py:taxi_baseline

Run it again and every step comes from the cache. Change ``min_trips`` with
``-p min_trips=50`` and only the steps that depend on it run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from shipyard import log_metrics, pipeline, step

DATA = Path(__file__).resolve().parent.parent / "taxi" / "data" / "chicago_taxi_trips.csv"


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


@step(cache=False)
def ingest(path: str = str(DATA)) -> pd.DataFrame:
    """Read the trips and keep the columns the model uses.

    Not cached: the file may change while its path stays the same. Its output
    is content-addressed, so unchanged data still lets the later steps hit
    the cache.
    """
    columns = ["trip_start_timestamp", "payment_type", "company", "fare", "big_tipper"]
    return pd.read_csv(path, usecols=columns)


@step
def clean(trips: pd.DataFrame) -> pd.DataFrame:
    """Fill missing companies and drop trips without a fare."""
    trips = trips.dropna(subset=["fare"]).copy()
    trips["company"] = trips["company"].fillna("unknown")
    log_metrics(rows=len(trips))
    return trips


@step
def split_by_time(trips: pd.DataFrame, test_fraction: float = 0.2) -> Split:
    """Train on the earliest trips, test on the latest ones."""
    ordered = trips.sort_values("trip_start_timestamp")
    cut = int(len(ordered) * (1 - test_fraction))
    return Split(ordered.iloc[:cut], ordered.iloc[cut:])


def tip_rate(frame: pd.DataFrame, column: str, min_trips: int) -> dict[str, float]:
    """Share of big tippers per value of ``column``, for values seen often enough."""
    rates = frame.groupby(column)["big_tipper"].agg(["mean", "size"])
    return rates.loc[rates["size"] >= min_trips, "mean"].round(4).to_dict()


@step
def train(train: pd.DataFrame, min_trips: int = 20) -> dict:
    """A baseline: the big-tipper rate by payment type and by company."""
    return {
        "overall": float(train["big_tipper"].mean()),
        "payment_type": tip_rate(train, "payment_type", min_trips),
        "company": tip_rate(train, "company", min_trips),
    }


@step
def evaluate(model: dict, test: pd.DataFrame) -> dict:
    """Accuracy of predicting a big tip when the learned rate is above one half."""
    by_payment = test["payment_type"].map(model["payment_type"]).fillna(model["overall"])
    by_company = test["company"].map(model["company"]).fillna(by_payment)
    predicted = ((by_payment + by_company) / 2 > 0.5).astype(int)
    accuracy = float((predicted == test["big_tipper"]).mean())
    majority = float((test["big_tipper"] == 0).mean())
    log_metrics(accuracy=accuracy, majority_baseline=majority, test_rows=len(test))
    return {"accuracy": accuracy, "majority_baseline": majority}


@pipeline
def taxi_baseline(min_trips: int = 20, test_fraction: float = 0.2) -> None:
    """Ingest, clean, split by time, fit a tip-rate baseline and evaluate it."""
    parts = split_by_time(clean(ingest()), test_fraction=test_fraction)
    evaluate(train(parts.train, min_trips=min_trips), parts.test)
