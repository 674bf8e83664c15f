"""The generated report in a real browser (headless Chromium): no horizontal overflow, no
console errors, every section present, no empty heading, at desktop and phone widths.

Needs the system ``chromium`` (Debian package; ``.ci/run`` installs it and sets
NASBENCH_HARNESS_REQUIRE_BROWSER=1 so that CI fails rather than skips without it).
Screenshots go to $NASBENCH_HARNESS_SCREENSHOTS when set (to look at them), else to tmp.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from browser import Browser, find_chromium
from nasbench_harness.metrics import prediction_metrics
from nasbench_harness.report import build_report
from nasbench_harness.report.aggregate import comparisons
from nasbench_harness.report.context import ReportContext
from nasbench_harness.report.sections import RenderedSection, Section, drop_empty_headings, render_all
from report_rows import _cell, make_rows, write_store

WIDTHS = (1400, 400)
TASKS = ["nb201/cifar10", "tnb101-micro/class_object"]
METHODS = ["xgboost@onehot", "gcn+hr", "ridge@path", "transformer+listmle"]
# A code version as the runner writes it: long, with no space to break at.
CODE_VERSION = "nasbench-harness=0.1.0;" + ";".join(f"{m}=0123456789abcdef" for m in ("predict", "testsets", "metrics", "encodings", "predictor"))

# Measures one loaded page; returns plain JSON. "Overflow" = an element sticking out of its
# card's border box without a scrolling (or clipping) box between them.
PROBE = r"""(() => {
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const clips = el => getComputedStyle(el).overflowX !== 'visible';
  const out = {viewport: innerWidth, pageWidth: document.documentElement.scrollWidth, overflow: [], emptyHeadings: [], ids: {}, toc: []};
  for (const card of document.querySelectorAll('section.card')) {
    const r = card.getBoundingClientRect(), s = getComputedStyle(card);
    const left = r.left + parseFloat(s.borderLeftWidth), right = r.right - parseFloat(s.borderRightWidth);
    const title = (card.querySelector('h2,h3') || {textContent: '?'}).textContent.trim();
    out.ids[card.id || title] = {title: title, height: card.offsetHeight};
    for (const el of card.querySelectorAll('*')) {
      let p = el.parentElement, clipped = false;
      for (; p && p !== card; p = p.parentElement) if (clips(p)) { clipped = true; break; }
      if (clipped || !el.getClientRects().length) continue;
      const e = el.getBoundingClientRect();
      if (e.width && (e.right > right + 1 || e.left < left - 1))
        out.overflow.push(describe(el) + ' sticks out of ' + (card.id || title) + ' by ' + Math.round(Math.max(e.right - right, left - e.left)) + ' px');
    }
  }
  const level = h => +h.tagName[1];
  const isHeading = el => /^H[1-6]$/.test(el.tagName);
  const hasContent = el => el.textContent.trim() !== '' || el.querySelector('img,svg,table,canvas');
  for (const h of document.querySelectorAll('main h1, main h2, main h3, main h4, main h5, main h6')) {
    // a heading alone in a header row (e.g. .board-head) is judged by what follows the row
    let el = h.nextElementSibling || (h.parentElement.tagName !== 'SECTION' ? h.parentElement.nextElementSibling : null);
    if (h.parentElement.classList.contains('board-head')) el = h.parentElement.nextElementSibling;
    let found = false;
    for (; el; el = el.nextElementSibling) {
      if (isHeading(el) && level(el) <= level(h)) break;
      if (!isHeading(el) && hasContent(el)) { found = true; break; }
    }
    if (!found) out.emptyHeadings.push(describe(h));
  }
  for (const a of document.querySelectorAll('nav.toc a[href^="#"]')) {
    const target = document.getElementById(a.getAttribute('href').slice(1));
    out.toc.push({href: a.getAttribute('href'), ok: !!target && target.offsetHeight > 0});
  }
  return out;
})()"""


def _rows():
    """The report tests' synthetic rows, with every metric column the predict protocol writes
    (computed by the real metric function on synthetic predictions) and long provenance strings."""
    # The predict rows at the paper's eval_set are the loss study's cells (gcn+hr on nb201/cifar10 at 1% and 5%).
    predict = make_rows(methods=METHODS, tasks=TASKS).assign(protocol_params='{"eval_set":"space"}')
    rows = pd.concat([predict, _surrogate_rows()], ignore_index=True)
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    metrics = [prediction_metrics(y, y + rng.normal(0, 1 + i % 3, y.size)) for i in range(24)]
    for name in metrics[0]:
        values = [metrics[i % len(metrics)][name] for i in range(len(rows))]
        rows[name] = np.where(rows["status"] == "ok", values, np.nan)
    rows = pd.concat([rows, _select_rows(rng)], ignore_index=True)
    rows["code_version"] = CODE_VERSION
    return rows


def _surrogate_rows() -> pd.DataFrame:
    """Within-task cells of the paper-surrogates matrix (the Surrogates section), on a board of their own."""
    rows = make_rows(methods=["XGB graf+zc", "XGB onehot"], tasks=TASKS[:1], budgets=[20, 200], failed=0)
    return rows.assign(matrix="paper-surrogates", predictor="xgboost", encoding=rows["method"].str.split(" ").str[1], loss="")


def _select_rows(rng) -> pd.DataFrame:
    """A `select` leaderboard of the ConvNP study's cells: predictors and a predictor-free baseline."""
    out = []
    for method, predictor, strategy in (("ConvNP", "convnp", "predictor"), ("CARL", "carl", "predictor"), ("RS", "none", "random")):
        for seed in range(3):
            row = _cell("nb201/cifar10", method, 90, seed, "ok", "") | {"predictor": predictor}  # matrix labels
            best = 94.0 + rng.normal(0, 0.1)
            params = json.dumps({"k": 30, "strategy": strategy})
            row.update(protocol="select", protocol_params=params, strategy=strategy, best_val=best + 0.5, best_test=best,
                       selected_best_val=best + 0.4, selected_best_test=best - 0.1, best_test_of_selected=best - 0.05)
            if strategy == "predictor":
                row.update({"kendall_tau": 0.5 + rng.normal(0, 0.05), "recall@10": 0.2, "recall@100": 0.3})
            out.append(row)
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return _rows()


@pytest.fixture(scope="module")
def report(tmp_path_factory, rows) -> Path:
    root = tmp_path_factory.mktemp("browser-report")
    return build_report(write_store(root / "results", rows), root / "out", title="Browser report")


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("NASBENCH_HARNESS_REQUIRE_BROWSER"):
            pytest.fail("NASBENCH_HARNESS_REQUIRE_BROWSER is set but no chromium executable was found")
        pytest.skip("no chromium executable (install Debian's `chromium` package; .ci/run does)")
    b = Browser(executable)
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("NASBENCH_HARNESS_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_page(browser, url: str, width: int) -> dict:
    errors = browser.open(url, width)
    got = browser.evaluate(PROBE)
    assert errors == [], errors
    assert got["viewport"] == width
    assert got["pageWidth"] <= width, f"the page is {got['pageWidth']} px wide in a {width} px window"
    assert got["overflow"] == [], got["overflow"][:5]
    assert got["emptyHeadings"] == []
    return got


@pytest.mark.parametrize("width", WIDTHS)
def test_index_fits_the_window_without_errors_and_shows_every_section(browser, report, rows, shots, width):
    got = _check_page(browser, report.as_uri(), width)
    board_ids = [c["slug"] for c in comparisons(rows)]
    assert len(board_ids) == len(TASKS) + 3  # the predict boards, the surrogate study's, select by predictor and random
    for anchor in ["overview", "ranking", *board_ids, "failed", "section-convnp", "section-losses", "section-surrogates", "provenance"]:
        assert anchor in got["ids"], f"section {anchor} is missing"
        assert got["ids"][anchor]["height"] > 40, f"section {anchor} is empty"
    assert got["toc"] and all(link["ok"] for link in got["toc"]), [link for link in got["toc"] if not link["ok"]]
    png = browser.screenshot(shots / f"index-{width}.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("width", WIDTHS)
def test_board_pages_fit_the_window(browser, report, rows, shots, width):
    for board in comparisons(rows):
        got = _check_page(browser, (report.parent / "boards" / f"{board['slug']}.html").as_uri(), width)
        assert {v["title"] for v in got["ids"].values()} >= {"Leaderboard", "Result rows"}
        browser.screenshot(shots / f"board-{board['slug']}-{width}.png")


@pytest.fixture(scope="module")
def many_boards_report(tmp_path_factory) -> Path:
    """14 leaderboards: past INDEX_FULL_BOARDS, so the index lists them instead of showing each."""
    rows = make_rows(methods=METHODS, tasks=[f"nb201/task{i:02d}" for i in range(14)], budgets=[0.05], seeds=[0, 1])
    rows["code_version"] = CODE_VERSION
    root = tmp_path_factory.mktemp("many-boards")
    return build_report(write_store(root / "results", rows), root / "out", title="Many boards", jobs=1)


@pytest.mark.parametrize("width", WIDTHS)
def test_short_index_and_study_pages_fit_the_window(browser, report, many_boards_report, shots, width):
    got = _check_page(browser, many_boards_report.as_uri(), width)
    assert got["ids"]["leaderboards"]["height"] > 40
    assert got["toc"] and all(link["ok"] for link in got["toc"])
    browser.screenshot(shots / f"short-index-{width}.png")
    studies = sorted((report.parent / "studies").iterdir())
    assert {p.stem for p in studies} >= {"section-convnp", "section-losses"}
    for page in studies:
        got = _check_page(browser, page.as_uri(), width)
        assert list(got["ids"].values())[0]["height"] > 40, page.name


@pytest.mark.parametrize("width", WIDTHS)
def test_opened_deviation_panels_fit_the_window(browser, report, width):
    page = report.parent / "studies" / "section-losses.html"
    assert browser.open(page.as_uri(), width) == []
    opened = browser.evaluate(
        "[...document.querySelectorAll('details.deviations')].map(d => { d.open = true; return d.querySelector('.deviation dd').offsetHeight > 0; })"
    )
    assert opened == [True]  # the loss study's panel, its entries shown once opened
    got = browser.evaluate(PROBE)
    assert got["pageWidth"] <= width and got["overflow"] == [], got["overflow"][:5]


def test_wide_leaderboards_scroll_inside_their_card_with_a_cue(browser, report):
    browser.open(report.as_uri(), 1400)
    wide = browser.evaluate(
        "[...document.querySelectorAll('.scroll')].filter(b => b.offsetParent && b.scrollWidth > b.clientWidth)"
        ".map(b => ({more: b.classList.contains('more-right'), text: b.textContent}))"
    )
    assert wide, "no table is wider than its card at 1400 px: the premise of this test no longer holds"
    assert all(w["more"] for w in wide)  # the right edge fades while columns are hidden there
    assert any("Precision@50%" in w["text"] for w in wide)  # the far-right columns are in the scroll box
    scrolled = browser.evaluate(
        "new Promise(r => { const b = [...document.querySelectorAll('.scroll')].find(b => b.offsetParent && b.scrollWidth > b.clientWidth);"
        " b.scrollLeft = b.scrollWidth; requestAnimationFrame(() => requestAnimationFrame(() => r(b.classList.contains('more-right')))); })"
    )
    assert scrolled is False  # scrolled to the end: nothing hidden on the right any more


def test_budget_tabs_switch_panels_without_errors(browser, report):
    browser.open(report.as_uri(), 1400)
    shown = browser.evaluate(
        "(() => { const bar = document.querySelector('#nb201-cifar10-eval-set-space .tabbar'); bar.querySelector('button[data-tab=\"0\"]').click();"
        " return [...document.querySelectorAll('#nb201-cifar10-eval-set-space .tabpanel')].map(p => p.offsetHeight > 0); })()"
    )
    assert shown == [True, False, False]
    assert browser.errors() == []


def test_the_probe_catches_overflow_empty_headings_and_script_errors(browser, tmp_path):
    """The checks above can fail: a page with each fault is reported for each."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><body><main><section class='card' style='width:300px'><h2>Wide</h2>"
        "<table><tr><td>" + "x" * 200 + "</td></tr></table></section>"
        "<section class='card'><h2>Empty</h2></section></main>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    errors = browser.open(page.as_uri(), 400)
    got = browser.evaluate(PROBE)
    assert any("boom" in e for e in errors) and any("undefinedFunction" in e for e in errors)
    assert got["pageWidth"] > 400
    assert any("sticks out of Wide" in o for o in got["overflow"])
    assert any('"Empty"' in h for h in got["emptyHeadings"])


# ------------------------------------------------------------- empty headings (no browser)
def test_headings_with_nothing_under_them_are_dropped():
    assert drop_empty_headings("<h3>A</h3> <h3>B</h3><p>x</p><h3>C</h3>") == "<h3>B</h3><p>x</p>"
    assert drop_empty_headings("<h3>A</h3><h4>a</h4>\n<!-- c --><h3>B</h3><p>x</p>") == "<h3>B</h3><p>x</p>"
    assert drop_empty_headings("<h3 class='k'>A <b>b</b></h3><h4>a</h4><p>t</p>") == "<h3 class='k'>A <b>b</b></h3><h4>a</h4><p>t</p>"
    assert drop_empty_headings("<div><h4>in</h4></div><p>y</p>") == "<div></div><p>y</p>"


def test_a_section_of_only_headings_is_not_rendered(rows):
    def module(html):
        return SimpleNamespace(TITLE="T", render=lambda results, ctx: html)

    ctx = ReportContext(rows, {})
    sections = [Section("empty", "Empty", 1, module("<h3>Main</h3>\n<h3>Other</h3>")), Section("some", "Some", 2, module("<h3>A</h3><h3>B</h3><p>x</p>"))]
    out = render_all(rows, ctx, sections)
    assert [(s.name, s.html) for s in out] == [("some", "<h3>B</h3><p>x</p>")]
    assert all(isinstance(s, RenderedSection) for s in out)


def test_the_report_checker_reads_every_page_and_names_broken_links(browser, report, tmp_path, capsys, monkeypatch):
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import check_report

    folder = shutil.copytree(report.parent, tmp_path / "board")
    monkeypatch.chdir(tmp_path)
    sys.argv = ["check_report.py", "board"]  # a relative folder, as the README writes it
    assert check_report.main() == 0, capsys.readouterr().out
    assert f"checked {len(check_report.pages(folder))} pages" in capsys.readouterr().out
    page = folder / "boards" / sorted(p.name for p in (folder / "boards").glob("*.html"))[0]
    page.write_text(page.read_text().replace("</main>", '<a href="../boards/gone.html">x</a><script src="https://cdn.example/x.js"></script></main>'))
    assert check_report.main() == 1
    out = capsys.readouterr().out
    assert "broken link ../boards/gone.html" in out and "https://cdn.example/x.js (loads from the network)" in out
