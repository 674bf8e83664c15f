"""The HTML report end to end: numbers, sorting markup, figures, failures, sections, errors."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import types
from html import unescape

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError, ResultStoreError
from nasbench_harness.report import _check_summary, build_report
from nasbench_harness.report import sections as sections_mod
from nasbench_harness.report.context import ReportContext
from report_rows import make_rows, write_store


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report of the default synthetic rows, shared by the read-only tests (``rows`` is the same data)."""
    root = tmp_path_factory.mktemp("report")
    return build_report(write_store(root / "results", make_rows()), root / "out", title="Unit report")


def _board_html(index) -> str:
    return (index.parent / "boards" / "nb201-cifar10.html").read_text()


def test_leaderboard_shows_independent_mean_and_std(report, rows):
    # data-v (the sort key) keeps 7 significant digits: rel=1e-6 below
    html = report.read_text()
    ok = rows[rows["status"] == "ok"]
    for (task, budget, method), g in ok.groupby(["task", "budget", "method"]):
        tau = g["kendall_tau"].to_numpy()
        mean, std = float(np.mean(tau)), float(np.std(tau, ddof=1))
        shown = re.findall(rf'data-v="([^"]+)">{mean:.3f}<span class="sd">± {std:.3f}</span>', html)
        assert any(float(v) == pytest.approx(mean, rel=1e-6) for v in shown), (task, budget, method)
        mae = g["mae"].to_numpy()
        assert f'>{mae.mean():.3f}<span class="sd">± {mae.std(ddof=1):.3f}</span>' in html


def test_best_mean_per_column_is_highlighted(report, rows):
    html = _board_html(report)
    ok = rows[(rows["status"] == "ok") & (rows["task"] == "nb201/cifar10") & (rows["budget"] == 0.1)]
    means = ok.groupby("method")[["kendall_tau", "mae"]].mean()
    best_tau, best_mae = means["kendall_tau"].max(), means["mae"].min()  # MAE: lower is better
    best = [float(v) for v in re.findall(r'class="num best" data-v="([^"]+)"', html)]
    plain = [float(v) for v in re.findall(r'class="num" data-v="([^"]+)"', html) if v]
    assert any(v == pytest.approx(best_tau, rel=1e-6) for v in best)
    assert any(v == pytest.approx(best_mae, rel=1e-6) for v in best)
    assert not any(v == pytest.approx(means["kendall_tau"].min(), rel=1e-6) for v in best)
    assert any(v == pytest.approx(means["kendall_tau"].min(), rel=1e-6) for v in plain)


def test_sorting_markup_tabs_and_seed_counts(report):
    html = report.read_text()
    assert '<table class="board sortable">' in html
    assert html.count('data-sort="1"') > 20
    assert "function sortBy" in html and "data-v" in html
    for label in ("1%", "5%", "10%"):
        assert f">{label}</button>" in html
    # n seeds with the run keys as a tooltip
    assert re.search(
        r'<td title="run keys: [0-9a-f]{12}, [0-9a-f]{12}, [0-9a-f]{12}" class="num" data-v="3">3</td>', html
    )


def test_report_is_self_contained_with_embedded_figures(report):
    html = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link " not in html and "<script src" not in html
    figures = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    # One curve figure per task (three budgets each); the ranking's diagram and the studies' sections may add more.
    curves = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"[^>]*><figcaption>[^<]*versus training size \(', html)
    assert len(figures) >= 3 and len(curves) == 2
    svg = base64.b64decode(curves[0]).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "Kendall τ" in svg and "xgboost@onehot" in svg


def test_csv_downloads_trace_numbers_to_run_keys(report, rows):
    html = _board_html(report)
    link = re.search(r'download="nb201-cifar10-10%.csv" href="data:text/csv;base64,([^"]+)"', html)
    assert link
    csv = pd.read_csv(io.StringIO(base64.b64decode(link.group(1)).decode()))
    ok = rows[(rows["status"] == "ok") & (rows["task"] == "nb201/cifar10") & (rows["budget"] == 0.1)]
    for rec in csv.itertuples(index=False):
        sel = ok[ok["method"] == rec.method]
        assert set(rec.keys.split(";")) == {k[:16] for k in sel["key"]}
    assert np.allclose(
        csv.set_index("method")["kendall_tau.mean"].sort_index(),
        ok.groupby("method")["kendall_tau"].mean().sort_index(),
    )
    # The comparison page's rows CSV, a file beside the page, holds every row with its full run key.
    assert re.search(r'download="nb201-cifar10-rows.csv" href="nb201-cifar10-rows.csv"', html)
    rows_csv = pd.read_csv(report.parent / "boards" / "nb201-cifar10-rows.csv")
    assert set(rows_csv["key"]) == set(rows.loc[rows["task"] == "nb201/cifar10", "key"])


def test_failed_cells_are_listed_with_errors(report, rows):
    html = report.read_text()
    failed = rows[rows["status"] == "failed"]
    assert len(failed) == 2
    for err in failed["error"]:
        assert err in html
    assert "Failed cells (2)" in html
    assert "2 failed" in _board_html(report)


def test_overview_and_provenance(report):
    html = report.read_text()
    assert "Unit report" in html
    assert "0.1.0+abc" in html and "d" * 16 in html
    assert ">numpy</td>" in html and ">2.13</td>" in html
    assert "eval = test" in html


def test_validation_eval_metric_is_flagged(tmp_path):
    rows = make_rows(tasks=["tnb101-micro/jigsaw"], failed=0).assign(eval_is_test=False)
    index = build_report(write_store(tmp_path / "r", rows), tmp_path / "o")
    html = index.read_text()
    assert "eval = validation" in html
    assert "judged on <b>jigsaw.val</b>" in html and "jigsaw.test" not in html  # the fallback actually used


def test_single_budget_has_no_curve_and_single_seed_has_no_std(tmp_path):
    rows = make_rows(budgets=[0.02], seeds=[0], failed=0)
    html = build_report(write_store(tmp_path / "r", rows), tmp_path / "o").read_text()
    assert "versus training size" not in html  # the only figure is the ranking's critical-difference diagram
    assert len(re.findall("data:image/svg\\+xml", html)) == 1 and "Critical-difference diagram" in html
    assert "Failed cells (0)" in html
    tau = rows.loc[rows["method"] == "gcn+hr", "kendall_tau"].iloc[0]
    assert f'data-v="{float(tau):.7g}">{tau:.3f}</td>' in html


def test_broken_section_does_not_break_the_report(results_dir, tmp_path, monkeypatch):
    def good(results, ctx):
        agg = ctx.aggregate(results, by=["method"], metrics=["kendall_tau"])
        return (
            ctx.note("Good section text.")
            + ctx.table(agg, caption="agg by method", best=True)
            + ctx.check("tau grows with budget", True, "0.4 -> 0.6")
        )

    def broken(results, ctx):
        raise KeyError("missing column kendall_tau_x")

    mods = []
    for name, fn, order in (("zz_good", good, 5), ("aa_broken", broken, 1), ("empty", lambda r, c: None, 0)):
        mods.append(types.ModuleType(name))
        mods[-1].TITLE, mods[-1].ORDER, mods[-1].render = f"Title {name}", order, fn
    found = [sections_mod._section_from(m.__name__, lambda m=m: m) for m in mods]
    found.append(sections_mod._section_from("cannot_import", lambda: __import__("no_such_module_xyz")))
    monkeypatch.setattr(sections_mod, "discover", lambda: sorted(found, key=lambda s: (s.order, s.name)))

    html = build_report(results_dir, tmp_path / "out").read_text()
    assert "Good section text." in html and "tau grows with budget" in html
    assert '<div class="check pass" id="check-1">' in html
    # The overview counts the checks of the sections that rendered and links to them.
    assert '<span class="check-count pass">✓ 1 reproduced</span>' in html
    assert '<a href="#check-1">tau grows with budget</a> <span class="muted">(Title zz_good)</span>' in html
    assert "Section aa_broken" in html and "missing column kendall_tau_x" in html
    assert "Section cannot_import" in html and "ModuleNotFoundError" in html
    assert "Title empty" not in html  # None: nothing to show
    assert html.index("<h2>Title aa_broken</h2>") < html.index("<h2>Title zz_good</h2>")  # ORDER respected
    assert html.index("<h2>Overall ranking across tasks</h2>") < html.index("<h2>Title aa_broken</h2>")


def test_builtin_sections_are_discovered():
    found = sections_mod.discover()
    assert {"losses", "convnp"} <= {s.name for s in found}  # an empty discovery must not pass
    for s in found:
        assert s.title and isinstance(s.order, int) and s.module is not None, (s.name, s.import_error)


def test_builtin_sections_render_on_foreign_results(rows):
    """A section must cope with results that are not its study's (return None or HTML, never raise)."""
    ctx = ReportContext(rows)
    found = sections_mod.discover()
    assert {"losses", "convnp"} <= {s.name for s in found}  # the check below is not vacuous
    rendered = sections_mod.render_all(rows, ctx, found)
    assert [(r.name, r.error) for r in rendered if r.error] == []


def test_empty_results_dir_is_one_sentence(tmp_path):
    (tmp_path / "results" / "shards").mkdir(parents=True)
    with pytest.raises(ResultStoreError) as err:
        build_report(tmp_path / "results", tmp_path / "out")
    assert str(err.value).startswith(f"no results in {tmp_path / 'results'}; run `nasbench-harness run` first")
    assert not (tmp_path / "out").exists()


def test_corrupt_shard_is_reported_and_the_rest_rendered(results_dir, tmp_path):
    (results_dir / "shards" / "part-0-bad.parquet").write_bytes(b"PAR1 not really parquet")
    html = build_report(results_dir, tmp_path / "out").read_text()
    assert "part-0-bad.parquet" in html and 'class="warn-box"' in html
    assert "nb201/cifar100" in html


def test_ctx_published_and_figure_helpers(rows):
    ctx = ReportContext(rows)
    with pytest.raises(ConfigError, match="No published numbers named 'no-such-paper'"):
        ctx.published("no-such-paper")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    png = ctx.figure(fig, caption="a <b> line", fmt="png")
    assert png.startswith('<figure><img src="data:image/png;base64,iVBOR')
    assert "a &lt;b&gt; line" in png
    assert ctx.check("x", None, "no rows").startswith('<div class="check unknown" id="check-1">')
    tabs = ctx.tabs({"1%": "<p>a</p>", "5%": "<p>b</p>"}, title="budget")
    assert '<button type="button" data-tab="1" class="active">5%</button>' in tabs
    assert '<div class="tabpanel" data-panel="0"><p>a</p></div>' in tabs
    assert "&lt;script&gt;" in ctx.note("<script>")


def test_ctx_deviations_is_a_collapsible_panel_of_every_field():
    from nasbench_harness.studies import Deviation

    ctx = ReportContext(pd.DataFrame())
    assert ctx.deviations(()) == ""
    d = Deviation("Ascent <steps>", "Algorithm 1: one step", "20 Adam steps", "one step decodes back", "yes: novelty")
    html = ctx.deviations([d, d])
    assert html.startswith('<details class="deviations"><summary>Deviations from the paper (2)</summary>')
    assert html.count('<div class="deviation">') == 2 and "Ascent &lt;steps&gt;" in html
    for text in ("Algorithm 1: one step", "20 Adam steps", "one step decodes back", "<dt>Can it move a verdict?</dt><dd>yes: novelty</dd>"):
        assert text in html, text


def test_no_deviations_panel_for_a_study_without_rows(report):
    """The unit rows are no study's cells: no study section, so no panel."""
    assert "Deviations from the paper" not in report.read_text()


def test_ctx_table_formats_and_escapes():
    ctx = ReportContext(pd.DataFrame())
    df = pd.DataFrame({"name": ["<a>", "b"], "x": [1.23456, 2.5], "n@10.mean": [3.0, 1.0], "n@10.std": [0.5, np.nan]})
    html = ctx.table(df, caption="cap", fmt={"x": ".1f"}, best=True, csv=None)
    assert "&lt;a&gt;" in html and ">1.2</td>" in html and ">2.5</td>" in html
    assert 'class="num best" data-v="1">1<' in html  # n@10: lower is better
    assert "download=" not in html
    assert "N@10 ↓" in html


def test_cross_task_table_averages_task_means(report, rows):
    html = report.read_text()
    assert "Kendall τ on every task" in html
    ok = rows[(rows["status"] == "ok") & (rows["budget"] == 0.05)]
    per_task = ok.groupby(["method", "task"])["kendall_tau"].mean().unstack("task")
    for method, task_means in per_task.iterrows():
        overall = task_means.mean()
        cells = re.findall(
            rf"<td>{re.escape(method)}</td><td class=\"num(?: best)?\" data-v=\"([^\"]+)\">{overall:.3f}</td>", html
        )
        assert any(float(v) == pytest.approx(overall, rel=1e-6) for v in cells), method


def test_task_with_only_failed_cells_still_renders(tmp_path):
    rows = make_rows(tasks=["nb201/cifar10"], failed=0)
    dead = make_rows(tasks=["nb201/cifar100"], failed=0).assign(status="failed", error="RuntimeError: out of memory")
    index = build_report(write_store(tmp_path / "r", pd.concat([rows, dead], ignore_index=True)), tmp_path / "o")
    page = (index.parent / "boards" / "nb201-cifar100.html").read_text()
    assert "No successful runs" in page and "RuntimeError: out of memory" in page
    assert "No successful runs" not in (index.parent / "boards" / "nb201-cifar10.html").read_text()


def test_rebuild_replaces_pages_of_vanished_comparisons(tmp_path):
    out = tmp_path / "o"
    build_report(write_store(tmp_path / "a", make_rows()), out)
    assert (out / "boards" / "nb201-cifar100.html").exists()
    build_report(write_store(tmp_path / "b", make_rows(tasks=["nb201/cifar10"])), out)
    assert sorted(p.name for p in (out / "boards").iterdir()) == ["nb201-cifar10-rows.csv", "nb201-cifar10.html"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless chromium on PATH to run the report's JavaScript")
def test_sorting_and_tabs_work_in_a_real_browser(report, tmp_path):
    probe = """<script>
    var table = document.querySelector('table.sortable');
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    var th = Array.prototype.find.call(heads, function(t){ return t.textContent.indexOf('Kendall') === 0; });
    var col = Array.prototype.indexOf.call(heads, th);
    function values(){ return Array.prototype.map.call(table.tBodies[0].rows, function(r){ return parseFloat(r.cells[col].getAttribute('data-v')); }); }
    th.click(); var asc = values(); th.click(); var desc = values();
    document.querySelector('.tabbar button[data-tab="0"]').click();
    var active = document.querySelector('.tabpanel.active').getAttribute('data-panel');
    document.body.setAttribute('data-probe', JSON.stringify({asc: asc, desc: desc, active: active}));
    </script></body>"""
    page = tmp_path / "probe.html"
    page.write_text(report.read_text().replace("</body>", probe))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    ).stdout
    found = re.search(r'data-probe="([^"]+)"', dom)
    assert found, "the probe script did not run"
    result = json.loads(unescape(found.group(1)))
    assert result["asc"] == sorted(result["asc"]) and len(result["asc"]) == 3
    assert result["desc"] == sorted(result["desc"], reverse=True)
    assert result["active"] == "0"


def test_cli_report_command(results_dir, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "nasbench_harness",
        "report",
        "--results",
        str(results_dir),
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "index.html").is_file() and "report written to" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    cmd[5] = str(empty)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "no results in" in done.stderr and "Traceback" not in done.stderr


# -- full scale: boards rendered in a pool, a short index, one page per study -------------------
def test_sections_rendered_in_the_pool_number_their_checks_as_a_serial_build_does(tmp_path, monkeypatch):
    def module(name, n):
        def render(results, ctx):
            return f"<p>{name}</p>" + "".join(ctx.check(f"{name} claim {i}", i % 2 == 0, "evidence") for i in range(n))
        return types.SimpleNamespace(TITLE=name, ORDER=0, render=render)

    found = [sections_mod.Section(f"s{k}", f"Study {k}", k, module(f"Study {k}", n)) for k, n in enumerate((2, 0, 3))]
    monkeypatch.setattr(sections_mod, "discover", lambda: found)
    store = write_store(tmp_path / "r", make_rows(tasks=MANY_TASKS[:8], budgets=[0.01, 0.05], seeds=[0, 1]))
    alone = build_report(store, tmp_path / "one", jobs=1).parent
    pooled = build_report(store, tmp_path / "two", jobs=2).parent
    names = sorted(p.relative_to(alone).as_posix() for p in alone.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert names == sorted(p.relative_to(pooled).as_posix() for p in pooled.rglob("*") if p.is_file() and not p.name.startswith("."))
    for name in names:
        a, b = (alone / name).read_text(), (pooled / name).read_text()
        assert _without_figures_and_dates(a) == _without_figures_and_dates(b), name
    page = (pooled / "studies" / "section-s2.html").read_text()
    assert [int(x) for x in re.findall(r'id="check-(\d+)"', page)] == [3, 4, 5]  # after Study 0's two
    claims = json.loads((pooled / "claims.json").read_text())
    assert claims == json.loads((alone / "claims.json").read_text())


MANY_TASKS = [f"nb201/task{i:02d}" for i in range(14)]  # past INDEX_FULL_BOARDS


def _without_figures_and_dates(html: str) -> str:
    """A page minus what differs between two builds of the same rows (matplotlib's random SVG
    ids inside embedded figures, the generation time)."""
    return re.sub(r'src="data:image/[^"]+"|generated \d{4}-\d\d-\d\d \d\d:\d\d UTC', "", html)


def test_boards_rendered_in_a_process_pool_are_the_same_pages(tmp_path):
    from nasbench_harness.report.parallel import report_jobs as _report_jobs

    results = write_store(tmp_path / "r", make_rows(methods=["gcn+hr", "ridge@path"], tasks=MANY_TASKS[:8], budgets=[0.01, 0.05], seeds=[0, 1]))
    assert _report_jobs(2, 8) == 2 and _report_jobs(8, 7) == 1  # enough boards for two processes, not for eight
    alone = build_report(results, tmp_path / "one", jobs=1).parent
    pooled = build_report(results, tmp_path / "two", jobs=2).parent
    pages = sorted(p.name for p in (alone / "boards").iterdir())
    assert len(pages) == 16 and pages == sorted(p.name for p in (pooled / "boards").iterdir())  # 8 pages, 8 rows CSVs
    for name in pages:
        assert _without_figures_and_dates((alone / "boards" / name).read_text()) == _without_figures_and_dates((pooled / "boards" / name).read_text())
    assert _without_figures_and_dates((alone / "index.html").read_text()) == _without_figures_and_dates((pooled / "index.html").read_text())


def test_many_leaderboards_are_listed_in_a_short_index_linking_their_pages(tmp_path):
    # one budget: no curves to draw, the index's listing is what is tested
    index = build_report(write_store(tmp_path / "r", make_rows(tasks=MANY_TASKS, budgets=[0.05], seeds=[0, 1])), tmp_path / "o", jobs=1)
    html = index.read_text()
    assert 'id="leaderboards"' in html and "All 14 leaderboards" in html
    for task in MANY_TASKS:
        slug = task.replace("/", "-")
        assert f'<a href="boards/{slug}.html">{task}</a>' in html
        assert f'id="{slug}"' not in html  # no full card per leaderboard in the index
        assert (index.parent / "boards" / f"{slug}.html").is_file()
    # the leader at the largest budget: ridge@path is the best method by construction (make_rows)
    listing = html[html.index('id="leaderboards"') :].split("</section>")[0]
    assert listing.count("<td>ridge@path</td>") == len(MANY_TASKS)
    small = build_report(write_store(tmp_path / "s", make_rows()), tmp_path / "p", jobs=1).read_text()
    assert 'id="leaderboards"' not in small and 'id="nb201-cifar10"' in small  # a few boards stay in full


def test_each_study_section_gets_its_own_page_and_stale_ones_go(tmp_path, monkeypatch):
    def module(html):
        return types.SimpleNamespace(TITLE="Study A", ORDER=1, render=lambda results, ctx: html)

    monkeypatch.setattr(sections_mod, "discover", lambda: [sections_mod.Section("study_a", "Study A", 1, module("<p>numbers of A</p>"))])
    out = tmp_path / "o"
    index = build_report(write_store(tmp_path / "r", make_rows()), out)
    page = out / "studies" / "section-study-a.html"
    assert page.is_file() and "numbers of A" in page.read_text()
    assert 'href="studies/section-study-a.html"' in index.read_text()
    monkeypatch.setattr(sections_mod, "discover", lambda: [])
    build_report(write_store(tmp_path / "r2", make_rows()), out)
    assert not page.exists()
    assert sorted(p.name for p in (out / "boards").iterdir()) == ["nb201-cifar10-rows.csv", "nb201-cifar10.html",
                                                                   "nb201-cifar100-rows.csv", "nb201-cifar100.html"]
    # a board no longer in the results leaves with its rows CSV; a file the report did not write stays
    (out / "boards" / "mine.csv").write_text("a\n")
    build_report(write_store(tmp_path / "r3", make_rows(tasks=["nb201/cifar10"])), out)
    assert sorted(p.name for p in (out / "boards").iterdir()) == ["mine.csv", "nb201-cifar10-rows.csv", "nb201-cifar10.html"]


def test_a_full_scale_index_shows_each_study_by_its_claims_linking_to_its_page(tmp_path, monkeypatch):
    def render(results, ctx):
        return "<p>figures of A</p>" + ctx.check("A holds", True, "because")

    module = types.SimpleNamespace(TITLE="Study A", ORDER=1, render=render)
    monkeypatch.setattr(sections_mod, "discover", lambda: [sections_mod.Section("study_a", "Study A", 1, module)])
    index = build_report(write_store(tmp_path / "r", make_rows(tasks=MANY_TASKS, budgets=[0.05], seeds=[0, 1])), tmp_path / "o", jobs=1)
    html = index.read_text()
    assert "figures of A" not in html  # on the study's page only
    assert html.count('href="studies/section-study-a.html#check-1"') == 2  # the overview's list and the study's card
    page = (index.parent / "studies" / "section-study-a.html").read_text()
    assert "figures of A" in page and 'id="check-1"' in page
    small = build_report(write_store(tmp_path / "s", make_rows()), tmp_path / "p", jobs=1).read_text()
    assert "figures of A" in small and 'href="#check-1"' in small  # a small report keeps the study inline


def test_every_board_states_its_protocol(tmp_path):
    index = build_report(write_store(tmp_path / "r", make_rows(seeds=[0, 1, 2])), tmp_path / "o", jobs=1)
    page = unescape((index.parent / "boards" / "nb201-cifar10.html").read_text())
    facts = page[page.index("Protocol: ") :].split("</span>")[0]
    # NB201 trains on validation accuracy and is judged on test accuracy: the training cells stay in the eval set
    assert "evaluated on every architecture of the task, the training ones included" in facts
    assert "isomorphic cells the benchmark lists separately count separately" in facts
    assert "seeds 0–2;" in facts and "registered defaults" in facts and "learning rate" in facts  # gcn+hr is among the methods


def test_select_and_transfer_boards_say_how_isomorphs_count():
    from nasbench_harness.report import _protocol_facts

    rows = pd.DataFrame({"status": ["ok"], "seed": [0], "protocol_params": ["{}"]})
    for protocol in ("select", "transfer"):
        assert any("isomorphic cells" in f for f in _protocol_facts(rows, protocol, "valid_acc", "test_acc")), protocol


def test_a_report_names_its_results_folder_relative_to_itself(tmp_path):
    index = build_report(write_store(tmp_path / "r" / "store", make_rows()), tmp_path / "board", jobs=1)
    html = index.read_text()
    assert "from <code>../r/store</code>" in html and str(tmp_path) not in html


def test_a_board_ranks_its_methods_at_each_budget(tmp_path):
    from nasbench_harness.report import plots

    agg = pd.DataFrame(
        {"budget": [0.01, 0.01, 0.01, 0.05, 0.05, 0.05], "method": ["a", "b", "c", "a", "b", "c"], "kendall_tau.mean": [0.1, 0.3, 0.3, 0.5, 0.2, np.nan]}
    )
    ranks = plots.budget_ranks(agg, "kendall_tau", higher_is_better=True)
    assert ranks.to_dict("records") == [
        {"budget": 0.01, "method": "b", "rank": 1.5, "n": 3},
        {"budget": 0.01, "method": "c", "rank": 1.5, "n": 3},
        {"budget": 0.01, "method": "a", "rank": 3.0, "n": 3},
        {"budget": 0.05, "method": "a", "rank": 1.0, "n": 2},
        {"budget": 0.05, "method": "b", "rank": 2.0, "n": 2},
    ]
    assert plots.budget_ranks(agg, "kendall_tau", higher_is_better=False)["rank"].tolist()[:3] == [1.0, 2.5, 2.5]
    index = build_report(write_store(tmp_path / "r", make_rows()), tmp_path / "o", jobs=1)
    page = unescape((index.parent / "boards" / "nb201-cifar10.html").read_text())
    assert "Rank of every method at each budget by mean Kendall" in page


def test_rebuilding_a_report_from_the_same_rows_gives_the_same_figures(tmp_path):
    store = write_store(tmp_path / "r", make_rows())
    first = build_report(store, tmp_path / "a", jobs=1).parent
    second = build_report(store, tmp_path / "b", jobs=1).parent
    page = "boards/nb201-cifar10.html"
    figures = [re.findall(r'src="data:image/[^"]+"', (d / page).read_text()) for d in (first, second)]
    assert figures[0] and figures[0] == figures[1]  # a committed board changes only where its rows did


def test_the_overview_counts_name_the_verdict_levels_claims_json_uses():
    """The index's counts say "contradicted" and "insufficient evidence" as claims.json does; only
    when a plugin section's binary check is among them do they also name its words."""
    verdicts = [{"state": "fail", "verdict": "contradicted"}, {"state": "unknown", "verdict": "insufficient_evidence"}]
    summary = _check_summary(verdicts)
    assert (summary["fail"], summary["unknown"]) == (1, 1)
    assert summary["labels"] == {"fail": "contradicted", "unknown": "insufficient evidence"}
    mixed = _check_summary([*verdicts, {"state": "fail"}])
    assert mixed["fail"] == 2
    assert mixed["labels"] == {"fail": "contradicted or not reproduced", "unknown": "insufficient evidence or not enough results"}


def test_long_lists_of_methods_and_code_digests_fold_on_the_index(results_dir, tmp_path, monkeypatch):
    """A summary first: past FOLD_CHIPS methods the index folds the list (here the limit is 1)."""
    from nasbench_harness import report as report_mod

    short = build_report(results_dir, tmp_path / "a").read_text()
    assert "<dt>Methods</dt><dd class=\"chips\">" in short and "<summary>all " not in short
    monkeypatch.setattr(report_mod, "FOLD_CHIPS", 1)
    folded = build_report(results_dir, tmp_path / "b").read_text()
    n = len(re.findall(r'<i class="dot"', short.split("<dt>Methods</dt>")[1].split("</dd>")[0]))
    assert f"<dt>Methods</dt><dd><details><summary>all {n}</summary><div class=\"chips\">" in folded
