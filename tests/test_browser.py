"""A real headless Chromium opens the Dagster UI (served on 127.0.0.1 from the project's workspace) and the HTML
report, checks that the asset graph with partitions A-F and the report's tables render, and saves screenshots
under ``test-artifacts/``. It also uses the UI as a person would (Playwright): under ``dagster dev``, as ``make ui``
starts it, it materializes one partition through the asset's Materialize dialog, waits for the run to succeed in
the runs list and reads the new materialization's metadata on the asset page. ``make test`` installs Chromium from
the distribution's packages when it is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, sync_playwright
from test_report import TABLE5, VARIANTS, shapes_results

from orchestration.nodes import free_port
from reports.render import render

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed; make test installs it (scripts/browser.sh), or apt-get install chromium.")
    return found


def browse(url: str, screenshot: Path, height: int = 900) -> str:
    """The page's DOM after scripts ran (20 s of virtual time), with a 1400 x ``height`` screenshot."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    command = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--virtual-time-budget=20000", f"--window-size=1400,{height}", f"--screenshot={screenshot}", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=screenshot.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_until_serving(base: str, server: subprocess.Popen, seconds: float) -> None:
    """Until the webserver answers (failing with its stderr if it exits or takes longer than ``seconds``), then
    mark the welcome dialog seen."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{base}/server_info", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Dagster webserver did not come up: {server.stderr.read().decode()[-2000:]}")
            time.sleep(1)
    assert graphql(base, "mutation { setNuxSeen }")["data"]["setNuxSeen"] is True


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    server = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w",
                               "workspace.yaml"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server, 120)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_dagster_ui_shows_the_training_lineage_with_partitions_a_to_f(dagster_ui):
    # tall: the graph draws only what is on screen, and each stage reads the foundations and shards
    dom = browse(f"{dagster_ui}/locations/janusflow/asset-groups/training", ARTIFACTS / "dagster_training_lineage.png",
                 height=2400)
    for name in ("stage1", "stage2", "stage3", "foundation_llm", "shards_gen", "benchmark_results"):
        assert name in dom
    assert dom.count("6 partitions") == 3
    partitions = browse(f"{dagster_ui}/assets/stage1?view=partitions", ARTIFACTS / "dagster_stage1_partitions.png")
    assert all(re.search(rf">{v}<", partitions) for v in "ABCDEF")
    assert (ARTIFACTS / "dagster_training_lineage.png").stat().st_size > 20_000


def test_the_html_report_renders_its_tables_and_pictures(tmp_path):
    from reports.collect import ReportInputs

    results = shapes_results()
    inputs = ReportInputs(profile="tiny", variants=VARIANTS, results=results,
                          pooled={v: [r["summary"]] for v, r in results.items()}, paper_table5=TABLE5)
    html = render(inputs, tmp_path / "report", tolerance=0.10)["html"]
    dom = browse(html.as_uri(), ARTIFACTS / "report.png")
    assert dom.count("<table>") == 2  # Table 5 beside the paper, and the claims
    assert "Table 5: the ablations, ours beside the paper's" in dom and ">84.73</td>" in dom
    assert re.search(r'<img src="data:image/png;base64,[^"]{1000,}" alt="metrics per variant"', dom)
    assert (ARTIFACTS / "report.png").stat().st_size > 20_000


@pytest.fixture(scope="module")
def dagster_dev(pipeline_params, tmp_path_factory):
    """``dagster dev`` (webserver + daemon, as make ui) over the project's assets on the small world's params, with
    training written under this module's tmp folder and DVC left alone (tests/ui_definitions.py)."""
    root = tmp_path_factory.mktemp("ui")
    params = yaml.safe_load(pipeline_params.read_text())
    params["profiles"]["tiny"]["training"]["out"] = str(root / "training")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "home").mkdir()
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", root / "home" / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "DAGSTER_DISABLE_TELEMETRY": "1",
           "JANUSFLOW_UI_PARAMS": str(root / "params.yaml")}
    server = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                               "-f", "tests/ui_definitions.py"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server, 180)
        yield base, root
    finally:
        os.killpg(server.pid, 15)  # dagster dev's webserver and daemon are its children
        server.wait(timeout=60)


def dismiss_community_dialog(page: Page) -> None:
    page.wait_for_timeout(1500)
    skip = page.get_by_role("button", name="Skip")
    if skip.is_visible():
        skip.click()


def wait_for_run(page: Page, base: str, timeout: float = 300.0) -> str:
    """The status the runs list shows for the only run, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(f"{base}/runs")
        page.wait_for_timeout(3000)
        text = page.inner_text("body")
        for status in ("Success", "Failure", "Canceled"):
            if re.search(rf"\b{status}\b", text):
                return status
    return "timed out"


def test_a_partition_materialized_through_the_ui_dialog_shows_its_run_and_metadata(dagster_dev):
    base, root = dagster_dev
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/assets/stage1")
        page.get_by_role("button", name="Materialize…").wait_for()
        dismiss_community_dialog(page)
        page.get_by_role("button", name="Materialize…").click()
        page.get_by_role("button", name="Confirm").click()  # "upstream assets have not been materialized"
        # The partition menu is a dialog too and may linger in the page, closed, after Escape.
        dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
        for value in ("0", "F"):  # the seed, then the variant: each dimension has its own partition menu
            dialog.get_by_text("Select a partition or create one").first.click()
            page.get_by_role("menuitem", name=re.compile(rf"^{value}(\s+{value})?$")).click()  # shown twice
            page.keyboard.press("Escape")  # closes the partition menu, not the dialog
        page.screenshot(path=str(ARTIFACTS / "dagster_materialize_dialog.png"))
        assert "1 partition" in dialog.inner_text()
        page.get_by_role("button", name="Launch 1 run").click()
        dialog.wait_for(state="hidden", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "dagster_launched.png"))
        status = wait_for_run(page, base)
        page.screenshot(path=str(ARTIFACTS / "dagster_runs.png"))
        assert status == "Success"
        page.goto(f"{base}/assets/stage1?view=events&partition=0|F")
        page.get_by_text("loss_train_total_last10").wait_for(timeout=60_000)
        events = page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "dagster_stage1_materialization.png"))
        browser.close()
    assert "Partition 0|F materialized in run" in events and re.search(r"batches\s+6\b", events)
    for key in ("loss_curve", "samples", str(root / "training" / "F" / "seed0" / "stage1" / "export")):
        assert key in events
    assert (root / "training" / "F" / "seed0" / "stage1" / "export" / "model.safetensors").is_file()
