"""Wall time of the taxi YAML pipeline: first run, fully cached, and after a train param change.

Run: ``.venv/bin/python benchmarks/pipeline.py [--repeat N]``

Each figure is a whole ``shipyard run`` process on a copy of
``examples/taxi`` in a fresh project (``shipyard init`` untimed):

* first run: every step executes;
* fully cached re-run: nothing changed (target: at most 1 s on this machine);
* train param change (``--set train.params.max_iter=150``): only train,
  evaluate, gate and bundle run.

The peer is the same work without a framework: a plain Python script that
reads the CSV, splits by time, fits the same scikit-learn preprocessing and
model and computes the same metrics, run as its own process. The ratio shows
what Shipyard adds on a first run (versioning, caching, recording, the bundle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "taxi"
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))

PLAIN = '''
import numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

df = pd.read_csv("data/chicago_taxi_trips.csv").sort_values("trip_start_timestamp", kind="stable")
n = len(df); a, b = round(n * 0.7), round(n * 0.85)
train, evals, test = df.iloc[:a], df.iloc[a:b], df.iloc[b:]
features = [c for c in df.columns if c not in ("big_tipper", "tips")]
cat = ["payment_type", "company"]
num = [c for c in features if c not in cat]
pre = ColumnTransformer([
    ("num", Pipeline([("i", SimpleImputer(strategy="median", keep_empty_features=True)), ("s", StandardScaler())]), num),
    ("cat", Pipeline([("i", SimpleImputer(strategy="most_frequent")),
                      ("o", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=20, sparse_output=False))]), cat),
])
model = HistGradientBoostingClassifier(max_iter=200).fit(pre.fit_transform(train[features]), train["big_tipper"])
for frame in (evals, test):
    x = pre.transform(frame[features]); y = frame["big_tipper"]
    p = model.predict(x); q = model.predict_proba(x)
    [accuracy_score(y, p), precision_score(y, p), recall_score(y, p), f1_score(y, p), roc_auc_score(y, q[:, 1]), log_loss(y, q)]
'''


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return took


def measure(repeat: int) -> dict[str, float]:
    first, cached, changed, plain = [], [], [], []
    for _ in range(repeat):
        work = Path(tempfile.mkdtemp(prefix="shipyard-bench-taxi-"))
        try:
            shutil.copytree(EXAMPLE, work / "taxi", ignore=shutil.ignore_patterns(".shipyard"))
            project = work / "taxi"
            (project / "plain.py").write_text(PLAIN)
            subprocess.run([SHIPYARD, "init"], cwd=project, capture_output=True, check=True)
            env_free = [SHIPYARD, "run", "pipeline.yaml"]
            first.append(_timed(env_free, project))
            cached.append(_timed(env_free, project))
            changed.append(_timed([*env_free, "--set", "train.params.max_iter=150"], project))
            plain.append(_timed([sys.executable, "plain.py"], project))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "first_run_s": statistics.median(first),
        "cached_run_s": statistics.median(cached),
        "train_param_change_s": statistics.median(changed),
        "plain_script_s": statistics.median(plain),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats per figure (median)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    figures = measure(args.repeat)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine, **figures}, indent=2))
        return
    print(f"machine: {machine}; medians of {args.repeat} fresh projects")
    for key, value in figures.items():
        print(f"{key:28} {value:8.2f} s")
    print(f"{'first run / plain script':28} {figures['first_run_s'] / figures['plain_script_s']:8.2f} x")


if __name__ == "__main__":
    main()
