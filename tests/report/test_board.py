"""The committed board (`board/`) is the report of the committed reference store (`results/reference/`).

Whoever adds rows to the reference store regenerates the board (README, "The leaderboard"):
this test fails until they do, naming the command.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOARD, REFERENCE = REPO / "board", REPO / "results" / "reference"
REGENERATE = "nasbench-harness report --results results/reference --out board"


def test_the_board_shows_every_study_file_of_the_reference_store_with_its_rows():
    index = (BOARD / "index.html").read_text(encoding="utf-8")
    files = json.loads((REFERENCE / "manifest.json").read_text())["files"]
    assert files, "the reference store holds no study yet"
    for name, entry in files.items():
        chip = f"<span>{name.removesuffix('.parquet')} ({entry['rows']:,})</span>"
        assert chip in index, f"board/index.html does not show {chip}: regenerate it ({REGENERATE})"


def test_the_board_links_only_relative_files_and_names_no_machine_folder():
    index = (BOARD / "index.html").read_text(encoding="utf-8")
    assert "from <code>../results/reference</code>" in index
    for page in [BOARD / "index.html", *(BOARD / "boards").glob("*.html"), *(BOARD / "studies").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        assert "/work/" not in text and "/home/" not in text and 'src="http' not in text, page
