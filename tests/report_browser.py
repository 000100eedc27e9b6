"""Open a finished run's Snakemake report in headless Chromium and check what a reader sees.

Usage (CI runs it after the demo and its report):
    python tests/report_browser.py results/report.html results/metrics.tsv [--chromium /usr/bin/chromium]

Checks, in the rendered page (Playwright driving Debian's Chromium through executable_path):
1. the first section (the workflow description) names the data source, the commit, the versions and
   the command line of the run, and shows the commit and command line of results/provenance/latest.json;
2. the Tables category lists table1_r2.html; clicking it renders the table, and every cell of Table 1's
   model columns (mean ± std over seeds per session, the Mean row's mean ± std over session means),
   recomputed here from results/metrics.tsv with the standard library, is in the rendered text;
3. the trade-off figure is listed and, when opened, is an image the browser decoded (natural width > 0).
Prints one line per check; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST_SECTION = ("Data source", "Commit", "Versions", "Command line")


def expected_table1_cells(metrics_tsv: Path) -> list[str]:
    """Table 1's cells of this run's models, recomputed from metrics.tsv (population std)."""
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    with metrics_tsv.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            per[(row["model"], row["session"])].append(float(row["r2"]))
    cells = []
    by_model: dict[str, list[float]] = defaultdict(list)
    for (model, _), values in per.items():
        cells.append(f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}")
        by_model[model].append(statistics.fmean(values))
    for means in by_model.values():
        cells.append(f"{statistics.fmean(means):.3f} ± {statistics.pstdev(means):.3f}")
    return cells


def fail(message: str) -> None:
    """Print the failure and exit 1."""
    print(f"FAIL: {message}")
    sys.exit(1)


def open_result(page, url: str, category: str, name: str) -> None:
    """From the report's start page, show a category and press the view (eye) button of the result `name`."""
    page.goto(url)
    page.wait_for_timeout(800)
    menu = page.get_by_text(category, exact=True)
    if not menu.count():
        fail(f"the report has no category {category!r}")
    menu.first.click()
    page.wait_for_timeout(300)
    row = page.locator("tr", has_text=name)
    if not row.count():
        fail(f"category {category!r} does not list {name}")
    row.first.locator('a[iconname="eye"]').click()
    page.wait_for_timeout(800)


def check(report: Path, metrics_tsv: Path, chromium: str) -> None:
    """Run the three checks; exit 1 on the first failure."""
    from playwright.sync_api import sync_playwright

    cells = expected_table1_cells(metrics_tsv)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        url = report.resolve().as_uri()
        page.goto(url)
        page.wait_for_timeout(1000)
        first = page.inner_text("body")
        missing = [word for word in FIRST_SECTION if word not in first]
        if missing:
            fail(f"the report's first section lacks {', '.join(missing)}")
        run_file = metrics_tsv.parent / "provenance" / "latest.json"
        if run_file.is_file():
            run = json.loads(run_file.read_text())
            for key in ("git_commit", "command_line"):
                if run.get(key) and run[key] not in " ".join(first.split()):
                    fail(f"the report's first section does not show {key} {run[key]!r} of {run_file}")
        print(f"ok: first section names {', '.join(FIRST_SECTION)}"
              + (f" and shows the commit and command line of {run_file}" if run_file.is_file() else ""))
        open_result(page, url, "Tables", "table1_r2.html")
        frames = [f for f in page.frames if f is not page.main_frame]
        texts = [f.inner_text("body") for f in frames if f.url.startswith("data:")]
        table = next((t for t in texts if "Table 1" in t), None)
        if table is None:
            fail("clicking table1_r2.html shows no rendered Table 1")
        absent = [c for c in cells if c not in table]
        if absent:
            fail(f"Table 1 as rendered lacks {absent[:3]} (recomputed from {metrics_tsv})")
        print(f"ok: Table 1 rendered with all {len(cells)} cells recomputed from {metrics_tsv.name}")
        open_result(page, url, "Figures", "tradeoff")
        widths = page.eval_on_selector_all(
            "img", "els => els.filter(e => e.src.startsWith('data:image/svg')).map(e => e.naturalWidth)")
        if not widths or max(widths) < 200:
            fail("the trade-off figure is not shown as a decoded image")
        page.screenshot(path=str(report.with_name("report_tradeoff.png")))
        shot = report.with_name("report_tradeoff.png")
        print(f"ok: trade-off figure shown ({max(widths)} px wide; screenshot {shot})")
        if errors:
            fail(f"page errors: {errors[:2]}")
        browser.close()


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("metrics", type=Path)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    for path in (args.report, args.metrics, Path(args.chromium)):
        if not path.exists():
            fail(f"{path}: not found")
    check(args.report, args.metrics, args.chromium)
    print("PASS: report checked in headless Chromium")


if __name__ == "__main__":
    main()
