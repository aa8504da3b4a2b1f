"""The report's HTML: cell formatting, and a page that fits the window in a real headless Chromium.

The browser test renders a page with a table far wider than the window, a wide figure and a long
unbreakable run id, adds a small script that writes the page's measurements into the DOM, and
reads them back with `chromium --dump-dom`: the page itself must not be wider than the window,
while the table's own box must be (so it scrolls inside it, and the check could fail).
"""

from __future__ import annotations

import io
import json
import re
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from tools import chromium  # noqa: E402

from auforget.stages.report.render import PageInfo, Section, fmt_p, image, page, table  # noqa: E402

CHROMIUM = chromium.find()
WINDOW = (800, 600)
MEASURE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const result = {page: root.scrollWidth, window: window.innerWidth,
                  boxes: [...document.querySelectorAll("div.scroll")]
                           .map(b => [b.scrollWidth, b.clientWidth]),
                  images: [...document.images].map(i => i.getBoundingClientRect().right)};
  const out = document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def test_table_escapes_formats_and_highlights():
    frame = pd.DataFrame(
        {
            "name": ["<b>x</b>", "y"],
            "value": [0.12345, float("nan")],
            "n": [3, 4],
            "p": [0.0001, 0.2],
        }
    )
    html = table(frame, p_columns=("p",), alpha=0.05)
    assert html.startswith('<div class="scroll">') and html.endswith("</div>")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x" not in html
    assert "<td>0.123</td>" in html and "<td>\u2013</td>" in html and "<td>3</td>" in html
    assert '<td class="sig">1.0e-04 *</td>' in html and "<td>0.200</td>" in html
    assert fmt_p(0.05, 0.05) == "0.050" and fmt_p(float("nan"), 0.05) == "\u2013"


def _png(width_inches: float) -> bytes:
    fig, ax = plt.subplots(figsize=(width_inches, 1))
    ax.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _wide_page() -> str:
    wide = pd.DataFrame(
        [
            {
                f"mcnemar_p_holm_contempt_b{k}_vs_b5_column_{c}": 0.001 * c
                for c in range(40)
                for k in range(1)
            }
            for _ in range(3)
        ]
    )
    body = (
        table(wide, p_columns=tuple(wide.columns[:5]), alpha=0.05)
        + image(_png(20), "a figure 2000 px wide")
        + "<p>run <code>"
        + "0123456789abcdef" * 12
        + "</code></p>"
    )
    info = PageInfo(
        key="k",
        report_run="r" * 32,
        generated="2026-01-01 00:00 UTC",
        code_version="c" * 40,
        tracking_uri="sqlite:///" + "/very-long-folder-name" * 12 + "/mlflow.db",
        synthetic=True,
    )
    return page(
        [
            Section("wide", "A wide table", body, True),
            Section("gone", "Missing", "<p>x</p>", False),
        ],
        {"forgetting": "f" * 32},
        info,
        key_meta="auforget-report-key",
    )


def test_page_is_self_contained_and_lists_sections():
    html = _wide_page()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert '<li><a href="#gone">Missing</a> (not available)</li>' in html
    assert html.count('<div class="scroll">') == 2  # the wide table and the runs table
    assert "overflow-x: auto" in html and "max-width: 100%" in html


def _measure(html: str, folder) -> dict:
    path = folder / "page.html"
    path.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        "--run-all-compositor-stages-before-draw",
        "--virtual-time-budget=5000",
        f"--user-data-dir={folder / 'profile'}",
    ]
    result = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    )
    found = re.search(r'<pre id="measure">(.*?)</pre>', result.stdout, re.S)
    assert found, (
        f"chromium wrote no measurement (exit {result.returncode}): {result.stderr[-2000:]}"
    )
    return json.loads(found.group(1))


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)
def test_wide_table_scrolls_inside_its_box_in_a_real_browser(tmp_path):
    m = _measure(_wide_page(), tmp_path)
    assert m["window"] == WINDOW[0]
    assert m["page"] <= m["window"], f"the page is {m['page']} px wide in a {m['window']} px window"
    table_box, runs_box = m["boxes"]
    assert table_box[0] > 2 * table_box[1], (
        "the table should be far wider than its box, which scrolls"
    )
    assert runs_box[0] <= runs_box[1]
    assert all(right <= m["window"] for right in m["images"])
