"""The report's HTML page opens offline in a real browser (headless Chromium) with every figure loaded."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from runners.analysis.synthetic import write_synthetic_study
from runners.report import build_report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)

#: appended to a copy of the page: once everything has loaded, write how many <img> decoded, into the DOM
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.closest("figure")?.id || i.src.slice(0, 40));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = `IMAGES ${imgs.length} BROKEN ${bad.length} ${bad.join(",")}`;
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    root = write_synthetic_study(
        tmp / "results",
        "html",
        benchmarks=("a", "b"),
        optimizers={"rs": 1, "x": 2, "y": 3},
        seeds=(0, 1, 2),  # 2 benchmarks x 3 seeds = 6 blocks: enough for critical-difference diagrams
        maximize=("b",),
    )
    return build_report(root, tmp / "report", grid=40, fractions=(0.5, 1.0))


def test_page_is_self_contained(report):
    html = report.read_text()
    assert not re.search(r"<(script|link|iframe)\b", html), (
        "the page must need no script or external stylesheet"
    )
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), (
        "the page must not load anything from the network"
    )
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/svg+xml;base64,") for s in srcs)
    for kind in (
        "regret_valid_per_benchmark",
        "regret_test_per_benchmark",
        "nregret_over_time",
        "rank_over_time",
        "cd_valid_1",
        "cd_test_0p5",
    ):
        assert f'id="fig-{kind}"' in html


@pytest.mark.skipif(
    CHROMIUM is None,
    reason=f"no Chromium binary found (looked for {', '.join(CHROMIUM_NAMES)}); "
    "install one, e.g. `apt-get install chromium`, to check the page in a browser",
)
def test_every_figure_loads_in_headless_chromium(report, tmp_path):
    page = report.with_name("probe.html")
    page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "profile"
    profile.mkdir()
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r"IMAGES (\d+) BROKEN (\d+)([^<]*)", out.stdout)
    assert m, f"the probe did not run; chromium exit {out.returncode}, stderr tail: {out.stderr[-2000:]}"
    n_figures = report.read_text().count("<figure")
    assert int(m.group(1)) == n_figures > 0
    assert int(m.group(2)) == 0, f"figures that did not load: {m.group(3).strip()}"
