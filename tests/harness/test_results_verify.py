"""`results verify` (harness/verify.py): a sample of a store re-run here and compared bit for bit (issue 21, item 7)."""

from __future__ import annotations

from nasbench_harness.executors import SerialExecutor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, plan
from nasbench_harness.store import ResultStore
from nasbench_harness.verify import cell_of, sample
from test_cli import assert_one_sentence_error, cli
from test_results_merge import copy_of, snapshot
from test_schema_and_kept import SEARCH_MATRIX, kept_store


def test_rows_give_back_the_cells_and_keys_they_were_computed_for(toy_store):
    rows = ResultStore(toy_store).read()
    cells = [cell_of(r) for r in rows.to_dict("records")]
    p = plan(load_matrix(toy_store.parent / "toy.yaml"), ResultStore(toy_store.parent / "empty"), cells)
    assert p.keys == list(rows["key"])


def test_the_sample_is_drawn_by_seed_from_ok_rows_in_key_order(toy_store):
    rows = ResultStore(toy_store).read()
    first = sample(rows, 3, seed=1)
    assert list(first["key"]) == list(sample(rows.iloc[::-1], 3, seed=1)["key"])
    assert len(sample(rows, 100, 0)) == 8 and list(sample(rows, 3, 2)["key"]) != list(first["key"])


def test_an_untouched_store_verifies_and_is_only_read(capsys, toy_store):
    before = snapshot(toy_store)
    code, out, err = cli(capsys, "results", "verify", str(toy_store), "--sample", "3", "--seed", "4")
    assert code == 0, err
    assert "verified 3 cell(s)" in out and "3 identical, 0 differ" in out
    assert snapshot(toy_store) == before


def test_a_changed_metric_is_named_with_its_cell(capsys, toy_store, tmp_path):
    tampered = copy_of(toy_store, tmp_path / "t", spearman=lambda df: df["spearman"] + 1e-15)
    code, out, _ = cli(capsys, "results", "verify", str(tampered), "--sample", "2")
    assert code == 1
    assert "toy/synthetic knn" in out and "differs in spearman (relative " in out and "same code and data digests" in out
    assert "0 identical, 2 differ" in out
    # A last-bit difference reads as one: its size relative to the value is given.
    assert "every difference is numeric, at most " in out and "e-1" in out.split("at most ")[1].split()[0]


def test_a_difference_is_explained_by_the_code_digest_when_it_differs(capsys, toy_store, tmp_path):
    other = copy_of(toy_store, tmp_path / "o", code_version="code=0123456789abcdef", kendall_tau=0.5)
    code, out, _ = cli(capsys, "results", "verify", str(other), "--sample", "1")
    assert code == 1 and "differs in kendall_tau" in out
    assert "its code digest here is code=" in out and "the stored row's code=0123456789abcdef" in out


def test_a_kept_search_store_verifies_without_its_per_query_values(capsys, write_matrix, tmp_path):
    ref = kept_store(tmp_path)
    store = ResultStore(ref)
    execute(plan(load_matrix(write_matrix(SEARCH_MATRIX)), store), store, SerialExecutor())
    code, out, err = cli(capsys, "results", "verify", str(ref), "--sample", "2")
    assert code == 0, out + err


def test_a_store_without_ok_rows_is_one_sentence(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "results", "verify", str(tmp_path / "empty"))
    assert_one_sentence_error(code, err, "holds no ok result rows")


def test_a_count_budget_of_zero_stays_a_count():
    row = {"protocol": "transfer", "task": "t/a", "predictor": "none", "budget": 0.0, "seed": 0, "params": "{}"}
    assert cell_of(row).budget == 0 and isinstance(cell_of(row).budget, int)
    assert isinstance(cell_of({**row, "budget": 0.01}).budget, float) and cell_of({**row, "budget": 172.0}).budget == 172


def test_relative_gap_sizes_a_difference_and_refuses_what_is_not_two_numbers():
    from nasbench_harness.rowdiff import relative_gap

    assert relative_gap(0.5460113444247601, 0.5460113444247597) < 1e-15
    assert relative_gap(2.0, 1.0) == 0.5 and relative_gap([1.0, 4.0], [1.0, 2.0]) == 0.5
    assert relative_gap([1.0, float("nan")], [1.0, float("nan")]) == 0.0
    assert relative_gap("gcn", "gin") is None and relative_gap(1.0, None) is None
    assert relative_gap([1.0], [1.0, 2.0]) is None and relative_gap(float("nan"), 1.0) is None


def test_a_difference_names_another_cpus_vector_extension(capsys, toy_store, tmp_path):
    """Rows record the CPU's widest vector extension; a row from a CPU with another one says so."""
    import json

    def other_cpu(df):
        return [json.dumps({**json.loads(m), "simd": "sse2-only-test-cpu"}) for m in df["machine"]]

    moved = copy_of(toy_store, tmp_path / "m", machine=other_cpu, spearman=lambda df: df["spearman"] + 1e-15)
    code, out, _ = cli(capsys, "results", "verify", str(moved), "--sample", "1")
    assert code == 1 and "differs in spearman (relative " in out
    assert "same code and data digests as the stored row, but it ran on a CPU with sse2-only-test-cpu and this one has" in out
