"""Read a built report in headless Chromium, every page at 1400 px and 400 px, as the browser test does.

    python tools/check_report.py board            # the folder `nasbench-harness report --out` wrote

For each page (index.html, boards/*.html, studies/*.html): its size, script errors, whether it is
wider than the window, elements sticking out of their card, headings with nothing under them, and
relative links that point at no file. Prints one line per problem and a summary; exits 1 on any.
Needs the system `chromium` and the test extras (it reuses tests/report/browser.py and the test's probe).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))

from browser import Browser, find_chromium  # noqa: E402
from test_report_browser import PROBE, WIDTHS  # noqa: E402

MAX_PAGE_BYTES = 5_000_000  # issue 21: every page under 5 MB


def pages(folder: Path) -> list[Path]:
    return [folder / "index.html", *sorted((folder / "boards").glob("*.html")), *sorted((folder / "studies").glob("*.html"))]


def broken_links(page: Path) -> list[str]:
    """Relative href/src targets of ``page`` that are no file (data: URIs, anchors and absolute URLs aside)."""
    out = []
    for target in re.findall(r'(?:href|src)="([^"#]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8")):
        url = urlparse(target)
        if url.scheme or target.startswith("//"):
            if url.scheme not in ("data", "mailto"):
                out.append(f"{target} (loads from the network)")
            continue
        if not (page.parent / unquote(url.path)).is_file():
            out.append(target)
    return out


def check(browser: Browser, page: Path, width: int) -> list[str]:
    errors = browser.open(page.as_uri(), width)
    got = browser.evaluate(PROBE)
    problems = [f"script error: {e}" for e in errors]
    if got["pageWidth"] > width:
        problems.append(f"the page is {got['pageWidth']} px wide in a {width} px window")
    problems += got["overflow"][:5] + [f"empty heading {h}" for h in got["emptyHeadings"]]
    problems += [f"table of contents link {t['href']} leads nowhere" for t in got["toc"] if not t["ok"]]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("No chromium found: install the Debian package `chromium` or set NASBENCH_HARNESS_CHROMIUM.", file=sys.stderr)
        return 2
    args.folder = args.folder.resolve()  # file:// URIs need absolute paths
    found, start = pages(args.folder), time.time()
    if not found[0].is_file():
        print(f"{found[0]} does not exist: build the report first (nasbench-harness report --out {args.folder}).", file=sys.stderr)
        return 2
    bad = 0
    browser = Browser(chromium)
    try:
        for page in found:
            rel = page.relative_to(args.folder)
            problems = [f"{page.stat().st_size / 1e6:.1f} MB, over the 5 MB limit"] if page.stat().st_size > MAX_PAGE_BYTES else []
            problems += [f"broken link {link}" for link in broken_links(page)]
            for width in WIDTHS:
                problems += [f"at {width} px: {p}" for p in check(browser, page, width)]
            bad += bool(problems)
            for p in problems:
                print(f"{rel}: {p}")
    finally:
        browser.close()
    largest = max(found, key=lambda p: p.stat().st_size)
    print(
        f"checked {len(found)} pages at {' and '.join(f'{w} px' for w in WIDTHS)} in {time.time() - start:.0f} s: "
        f"{bad} with problems; largest {largest.relative_to(args.folder)} ({largest.stat().st_size / 1e6:.2f} MB), "
        f"{sum(p.stat().st_size for p in found) / 1e6:.1f} MB in all"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
