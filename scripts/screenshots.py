"""Screenshots of the dashboard's main pages, for the docs (``docs/images/ui-*.png``).

Run: ``.venv/bin/python scripts/screenshots.py [--out docs/images] [--chromium PATH]``

It builds a demo project in a temporary folder (the taxi example run twice,
the second time with another model so its data steps come from the cache,
and a dataset with two versions), serves the dashboard on 127.0.0.1, and
photographs each page with the system's Chromium driven by Playwright.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TAXI = REPO / "examples" / "taxi"
WIDTH = 1280


def build(folder: Path) -> dict[str, str]:
    """The demo project; returns the ids the pages need."""
    import pandas as pd

    from shipyard.client import Client

    shutil.copytree(TAXI, folder, dirs_exist_ok=True)
    os.chdir(folder)
    trips = pd.read_csv(folder / "data" / "chicago_taxi_trips.csv", low_memory=False)
    trips.iloc[:6000].to_csv(folder / "trips_jan.csv", index=False)
    trips.iloc[3000:9000].to_csv(folder / "trips_feb.csv", index=False)
    from shipyard.engine.provenance import current_user

    def run_as(client: Client, user: str, *overrides: str) -> str:
        os.environ["SHIPYARD_USER"] = user
        current_user.cache_clear()
        result = client.run(str(folder / "pipeline.yaml"), overrides=["train.params.max_iter=60", *overrides])
        result.raise_for_status()
        return result.run_id

    with Client(folder, create=True) as client:
        first = run_as(client, "ana")
        second = run_as(client, "bo", "train.params.learning_rate=0.05")
        run_as(client, "ana", "train.params.learning_rate=0.3")
        client.models.register("taxi-tips", first, stage="production", reason="first model")
        client.models.register("taxi-tips", second, stage="staging", alias="candidate", reason="lower learning rate")
        client.datasets.add("trips", folder / "trips_jan.csv", message="January cut", user="ana")
        client.datasets.add("trips", folder / "trips_feb.csv", message="February cut", user="ana")
        split = next(s for s in client.step_runs(second) if s.step == "split")
    return {"first": first, "second": second, "train": split.outputs["train"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = parser.parse_args()
    if not args.chromium:
        raise SystemExit("No Chromium found: install Debian's chromium, or pass --chromium PATH.")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["SHIPYARD_USER"] = "ana"
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    import uvicorn
    from playwright.sync_api import sync_playwright

    from shipyard.ui.app import build_app
    from shipyard.ui.store import ReadOnlyClient

    folder = Path(tempfile.mkdtemp(prefix="shipyard-screens-")) / "taxi"
    try:
        ids = build(folder)
        client = ReadOnlyClient(folder)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(build_app(client), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the dashboard did not start within 30 s")
            time.sleep(0.05)
        first, second = ids["first"], ids["second"]
        shots = [
            ("ui-runs.png", "/?metric=eval.roc_auc&sort=metric", 420),
            ("ui-run.png", f"/runs/{second}", 1250),
            ("ui-artifact.png", f"/artifacts/{ids['train']}", 1150),
            ("ui-dataset.png", "/datasets/trips", 1100),
            ("ui-report.png", f"/runs/{second}/report", 1100),
            ("ui-compare.png", f"/compare?runs={first}&runs={second}", 900),
            ("ui-model.png", "/models/taxi-tips", 520),
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            for name, path, height in shots:
                page.goto(f"http://127.0.0.1:{port}{path}")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(400)  # framed reports fit their height
                page.screenshot(path=str(out / name), clip={"x": 0, "y": 0, "width": WIDTH, "height": height},
                                full_page=True)
                print(f"wrote {out / name}")
            browser.close()
        server.should_exit = True
        thread.join(10)
        client.close()
    finally:
        os.chdir(REPO)
        shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
