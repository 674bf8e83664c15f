"""tools/compare_results.py: stores are matched by cell content and compared metric by metric, bit for bit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from nasbench_harness.store import ResultStore

TOOL = Path(__file__).resolve().parents[2] / "tools" / "compare_results.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("compare_results", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(**changes) -> list[dict]:
    """Two cells (a predict one and a search one) as the runner writes them."""
    predict = {
        "key": "k1", "status": "ok", "error": None, "protocol": "predict", "protocol_params": "{}",
        "task": "nb201/cifar10", "predictor": "ridge", "encoding": "onehot", "loss": None,
        "method": "ridge", "params": '{"loss":{},"predictor":{"alpha":1.0}}', "budget": 50.0, "seed": 0,
        "kendall_tau": 0.123456789, "mae": float("nan"), "fit_seconds": 0.5, "code_version": "code=aaa",
        "finished_at": "2026-12-07T08:00:00",
    }
    search = {
        **predict, "key": "k2", "protocol": "search", "protocol_params": '{"strategy":"random"}',
        "predictor": "none", "method": "RS", "params": "{}", "budget": 20.0, "kendall_tau": None,
        "curve_eval": [90.0, 91.5, float("nan")],
    }
    return [{**predict, **changes.get("predict", {})}, {**search, **changes.get("search", {})}]


def store(path: Path, cells: list[dict]) -> str:
    ResultStore(path).append(cells)
    return str(path)


def test_identical_metrics_pass(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(predict={"fit_seconds": 9.0, "finished_at": "2026-12-08T00:00:00"}))
    assert tool.main([a, b]) == 0
    out = capsys.readouterr().out
    assert "matched 2 cell(s)" in out and "IDENTICAL" in out
    assert "fit_seconds" in out.splitlines()[1]  # listed as ignored


def test_one_changed_float_fails_naming_the_column(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(predict={"kendall_tau": np.nextafter(0.123456789, 1.0)}))
    assert tool.main([a, b]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS kendall_tau: 1 cell(s)" in out and "method=ridge" in out


def test_a_changed_sequence_element_fails(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(search={"curve_eval": [90.0, 91.5000001, float("nan")]}))
    assert tool.main([a, b]) == 1
    assert "DIFFERS curve_eval" in capsys.readouterr().out


def test_a_changed_key_and_code_version_alone_pass(tmp_path, tool):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(predict={"key": "new1", "code_version": "code=bbb"}, search={"key": "new2"}))
    assert tool.main([a, b]) == 0


def test_params_match_whatever_their_json_key_order(tmp_path, tool):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(predict={"params": '{"predictor":{"alpha":1.0},"loss":{}}'}))
    assert tool.main([a, b]) == 0


def test_an_unmatched_cell_fails(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", rows(search={"seed": 1}))
    assert tool.main([a, b]) == 1
    assert "1 only in STORE_A, 1 only in STORE_B" in capsys.readouterr().out


def test_a_metric_column_missing_from_the_second_store_fails(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    b = store(tmp_path / "b", [{k: v for k, v in r.items() if k != "kendall_tau"} for r in rows()])
    assert tool.main([a, b]) == 1
    assert "MISSING in STORE_B: column kendall_tau" in capsys.readouterr().out


def test_an_empty_store_is_one_sentence_and_exit_2(tmp_path, tool, capsys):
    a = store(tmp_path / "a", rows())
    assert tool.main([a, str(tmp_path / "nothing")]) == 2
    assert "holds no result rows" in capsys.readouterr().err
