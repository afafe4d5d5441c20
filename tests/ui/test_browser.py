"""The dashboard in a real headless browser: the system's Chromium driven by Playwright.

``make test`` installs Debian's ``chromium`` when it can (root with apt-get);
these tests are skipped, saying why, only where no Chromium or no Playwright
is found. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.ui.support import HTML_PIPELINE, SCRIPT_COLUMN, TAXI_STEPS, UIProject

pytestmark = pytest.mark.slow

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """The system's Chromium (or Chrome) executable, if any."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (make test installs Debian's chromium as root with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, base_url: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        context.close()


def test_from_the_runs_list_into_a_run_its_graph_and_its_drift_report(page, ui_project: UIProject) -> None:
    page.goto("/")
    assert page.locator("table.runs tbody tr").count() == 4
    page.get_by_role("link", name=ui_project.second[:12]).click()
    page.wait_for_url(f"**/runs/{ui_project.second}")
    nodes = page.locator("svg.dag g.node")
    assert nodes.count() == TAXI_STEPS
    assert page.locator("svg.dag g.node[data-status=cached]").count() == 8
    assert page.locator("svg.dag g.node[data-status=ran]").count() == 4
    assert page.locator("svg.dag path.edge").count() >= TAXI_STEPS - 1
    assert "cached 8" in page.locator("p.legend").inner_text()
    # A node links to its row in the step table, with the cache reason.
    page.locator("svg.dag g.node[data-step=split] a").click()
    assert page.url.endswith("#step-split")
    row = page.locator("table.steps tr[data-step=split]")
    assert "cached" in row.inner_text() and ui_project.first[:8] in row.inner_text()

    page.get_by_role("link", name="Data report").click()
    page.wait_for_url(f"**/runs/{ui_project.second}/report")
    report = page.frame_locator("iframe.report")
    report.get_by_role("heading", name="Skew: train → eval").wait_for()
    assert report.locator("text=Dataset drift").count() + report.locator("text=No dataset drift").count() >= 1
    page.wait_for_function("document.querySelector('iframe.report').offsetHeight > 1200")


def test_a_failed_run_shows_the_failed_and_skipped_steps(page, ui_project: UIProject) -> None:
    page.goto("/")
    page.locator("select[name=status]").select_option("failed")
    page.wait_for_url("**status=failed**")
    assert page.locator("table.runs tbody tr").count() == 1
    page.get_by_role("link", name=ui_project.failed[:12]).click()
    statuses = page.locator("svg.dag g.node").evaluate_all("nodes => nodes.map(n => n.dataset.status)")
    assert statuses == ["ran", "failed", "skipped"]
    assert "boom <i>failed</i>" in page.locator(".banner.bad").inner_text()


def test_compare_two_runs_picked_on_the_list(page, ui_project: UIProject) -> None:
    page.goto("/")
    button = page.locator("button.compare-button")
    assert button.is_disabled()
    page.locator(f"input[name=runs][value='{ui_project.first}']").check()
    assert button.is_disabled()
    page.locator(f"input[name=runs][value='{ui_project.second}']").check()
    assert button.is_enabled() and "(2)" in button.inner_text()
    button.click()
    page.wait_for_url("**/compare?**")
    assert page.get_by_role("heading", name="Compare 2 runs").is_visible()
    assert page.locator("figure.chart").count() >= 1
    assert page.locator("figure.chart rect.bar").count() == 2 * page.locator("figure.chart").count()
    diff = page.locator("table.config-diff").inner_text()
    assert "param.train.params.max_iter" in diff and "30" in diff and "25" in diff


def test_html_in_data_and_names_is_shown_as_text_never_run(page, ui_project: UIProject) -> None:
    page.goto(f"/artifacts/{ui_project.table}")
    headers = page.locator("table.preview th").all_inner_texts()
    assert headers[0].startswith(SCRIPT_COLUMN)
    assert "<img src=x onerror=alert(2)>" in page.locator("table.preview").inner_text()
    page.goto("/")
    assert HTML_PIPELINE in page.locator("table.runs").inner_text()
    page.goto(f"/runs/{ui_project.html}")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("document.querySelectorAll('img').length") == 0


def test_a_dataset_version_diff_with_its_drift_report(page) -> None:
    page.goto("/datasets")
    page.get_by_role("link", name="trips").click()
    page.frame_locator("iframe.report").get_by_role("heading", name="Statistics of trips@2").wait_for()
    page.get_by_role("button", name="Diff versions").click()
    page.wait_for_url("**/datasets/trips/diff?a=1&b=2")
    page.frame_locator("iframe.report").get_by_role("heading", name="Drift: trips@1 → trips@2").wait_for()
