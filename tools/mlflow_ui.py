"""What a user sees in the MLflow UI on a study's store, page by page, with a screenshot of each.

    .venv/bin/python -m tools.mlflow_ui --store mlflow.db --out docs/ui

starts `mlflow ui` on the store (on a loopback port it picks, stopped at the end), takes the walk
below in headless Chromium as a user clicks through it, and writes one PNG per page into --out.
tests/stages/test_mlflow_ui.py takes the same walk on the tiny study and checks what each page
shows.

The walk:
1. `runs`: the home page's *Model training* switch (MLflow 3.17 opens every experiment on the
   GenAI overview until it is switched: the UI reads that switch, kept in the browser, not the
   experiment's `mlflow.experimentKind` tag), then Experiments -> `auforget` -> its runs, with the
   `study` run unfolded: every step, the datasets it read, the registered model it produced.
2. `run`: the `transfer-b2` run: its description, datasets and test metrics, each linked to the
   logged model `pain-freezeb2` (the metric search box holds `test_`, as a reader would type it).
3. `models`: the experiment's Models tab (one row per logged model), scrolled right to the test
   metrics measured on `unbc-test`, `test_recall_pain` among them.
4. `registry`: Model registry -> `auforget-pain`: its versions with their aliases (`champion`,
   `freezeb<i>`) and tags.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auforget.core.config import TrackingConfig
from auforget.tracking import registry
from auforget.tracking.model_export import model_name
from tools.chromium import Browser

RUN = "transfer-b2"  # the step whose page the walk opens
METRIC_SEARCH = "test_"  # what the walk types into the run page's metric search
MODEL_METRIC = ("test_recall_pain", "unbc-test")  # the Models tab is scrolled to show this metric
CLOSE_ASSISTANT = 'button[data-component-id="mlflow.assistant.chat_panel.close"]'
UNFOLD_RUN = (
    'button[data-component-id$="runnamecellrenderer.tsx_46"]'  # the +/- beside a parent run
)
WINDOW = (1920, 1000)

# The drawn rows of the page's ag-grid table, by row id: {column id: cell text, "<column id> href":
# its link};
# a row's pinned and scrolled halves are separate elements with the same row-id, so cells are
# joined by it. (Cells carry the metric columns' JSON ids HTML-escaped, headers do not.)
GRID_ROWS = """(() => {
  const rows = {};
  for (const cell of document.querySelectorAll('.ag-row .ag-cell')) {
    const id = cell.closest('.ag-row').getAttribute('row-id');
    const column = (cell.getAttribute('col-id') || '').replaceAll('&quot;', '"');
    const row = rows[id] = rows[id] || {};
    row[column] = cell.innerText.trim();
    const link = cell.querySelector('a[href]');
    if (link) row[column + ' href'] = link.getAttribute('href');
  }
  return rows; })()"""

# ag-grid draws only the columns in view: scroll right until the wanted metric's header is drawn,
# then bring the first drawn column of its dataset to the left edge (where the group header names
# the dataset) and check that the metric is still in view. A metric column's id is
# `metrics.{"metricKey":..,"datasetName":..,..}`.
SCROLL_TO_METRIC = """(async (metric, dataset) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const bar = document.querySelector('.ag-body-horizontal-scroll-viewport');
  const headers = () => [...document.querySelectorAll('.ag-header-cell')]
    .filter(h => (h.getAttribute('col-id') || '').includes(`"datasetName":"${dataset}"`));
  const wanted = () => headers()
    .find(h => h.getAttribute('col-id').includes(`"metricKey":"${metric}"`));
  for (let x = 0; x <= bar.scrollWidth; x += bar.clientWidth / 2) {
    bar.scrollLeft = x;
    await sleep(150);
    if (wanted()) {
      bar.scrollLeft = Math.min(...headers().map(h => h.offsetLeft));
      await sleep(300);
      const box = wanted() && wanted().getBoundingClientRect();
      return Boolean(box) && box.right <= window.innerWidth;
    }
  }
  return false; })"""


@dataclass
class Page:
    """One page of the walk: where it was, what it showed as text, and its table's rows."""

    name: str
    url: str
    text: str
    rows: list[dict[str, str]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(store: Path, log: Path, timeout: float = 180) -> Iterator[str]:
    """`mlflow ui --backend-store-uri sqlite:///<store>` on 127.0.0.1 and a free port, run from the
    store's folder; yields its URL and stops it (its whole process group) when the block ends."""
    port = free_port()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    # No job runner: its consumers (GenAI scorers) are more processes that the UI does not need.
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                mlflow,
                "ui",
                "--backend-store-uri",
                f"sqlite:///{store.resolve()}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=store.resolve().parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow ui exited {proc.returncode}:\n"
                    f"{log.read_text(errors='replace')[-4000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"mlflow ui did not answer in {timeout:.0f} s") from None
                time.sleep(0.5)
        yield url
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)


def walk(
    browser: Browser,
    url: str,
    out: Path | None = None,
    experiment: str = TrackingConfig.experiment,
    run: str = RUN,
) -> dict[str, Page]:
    """Take the walk of the module docstring; with `out`, write `<page>.png` there for each page."""
    pages: dict[str, Page] = {}

    def keep(name: str, rows: bool = False, drawn_before: dict | None = None) -> None:
        """Record the page (and its table's rows, joined with those drawn before a scroll)."""
        time.sleep(0.5)  # let the last data settle into the layout before the picture
        table = {}
        if rows:
            table = drawn_before or {}
            for row_id, cells in browser.evaluate(GRID_ROWS).items():
                table[row_id] = {**table.get(row_id, {}), **cells}
        pages[name] = Page(
            name, browser.evaluate("location.href"), browser.text(), list(table.values())
        )
        if out is not None:
            browser.screenshot(out / f"{name}.png")

    browser.open(f"{url}/", "Model training")
    browser.click_text("Model training")
    browser.open(f"{url}/#/experiments", experiment)
    browser.click_text(experiment, "a")
    browser.wait_for("Run Name", "study")
    browser.click(CLOSE_ASSISTANT)
    browser.click(UNFOLD_RUN)
    browser.wait_for(run, "emotion", "forgetting", "report")
    keep("runs", rows=True)

    browser.click_text(run, "a")
    browser.wait_for("Description", "Metrics (", "Datasets", model_name(run))
    browser.type('input[placeholder="Search metrics"]', METRIC_SEARCH)
    browser.wait_for("test_recall_pain")
    keep("run")

    browser.click_text("Models", "a")
    browser.wait_for("Model name", model_name(run))
    browser.click(CLOSE_ASSISTANT)
    unscrolled = browser.evaluate(
        GRID_ROWS
    )  # the source-run column is out of view after the scroll
    if not browser.evaluate(f"{SCROLL_TO_METRIC}(...{json.dumps(MODEL_METRIC)})"):
        raise LookupError(f"the Models tab shows no column {MODEL_METRIC}")
    keep("models", rows=True, drawn_before=unscrolled)

    browser.click_text("Model registry", "a")
    browser.wait_for(registry.PAIN_MODEL, registry.EMOTION_MODEL, registry.RETRAIN_MODEL)
    pages["registry-list"] = Page(
        "registry-list", browser.evaluate("location.href"), browser.text()
    )
    browser.click_text(registry.PAIN_MODEL, "a")
    browser.wait_for("Version", "Aliases", f"@ {registry.CHAMPION_ALIAS}")
    browser.click(CLOSE_ASSISTANT)
    keep("registry")
    return pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--store", type=Path, default=Path("mlflow.db"), help="the study's sqlite store"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/ui"), help="folder for the PNGs")
    parser.add_argument("--experiment", default=TrackingConfig.experiment)
    args = parser.parse_args(argv)
    if not args.store.is_file():
        parser.error(f"{args.store} does not exist: run `auforget main` first")
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(args.store, Path(tmp) / "mlflow-ui.log") as url,
        Browser(width=WINDOW[0], height=WINDOW[1]) as browser,
    ):
        pages = walk(browser, url, args.out, args.experiment)
    for page in pages.values():
        if (args.out / f"{page.name}.png").exists():
            print(f"{args.out / page.name}.png  {page.url.split('#', 1)[-1]}")


if __name__ == "__main__":
    main()
