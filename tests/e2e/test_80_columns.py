"""At 80 columns nothing is cut in two: every command's --help, and what a demo run prints.

A word, key, URL or amount cut by the wrapping shows up as a piece that the same text laid
out wider does not have ("jumpseller" / ".auth_token", "igest-" / "sync/1"), or as a line
longer than the terminal, which the terminal would cut wherever column 80 falls. So each
text is rendered at 80 columns and wider, and every piece of the narrow one must be a whole
piece of the wide one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer
from rich.cells import cell_len
from typer.testing import CliRunner

from igest_sync.cli import app

# Table borders and rules are not words.
_NOT_WORD = "│┃┏┓┗┛┡┩━─┳┻╇┬┴├┤└┘┌┐╭╮╰╯═║╔╗╚╝"
_PIECE = re.compile(rf"[^\s{_NOT_WORD}]+")


def pieces(text: str) -> set[str]:
    """The words of ``text``; digits are 0 (ports, times and totals differ between runs), so
    is the demo's temporary folder, and click's "..." after a shortened command summary is
    not part of a word."""
    text = re.sub(r"igest-sync-demo-[^/\s]+", "igest-sync-demo-0", text)
    return {re.sub(r"\d+", "0", p).removesuffix("...") for p in _PIECE.findall(text)} - {""}


def too_long(text: str, width: int = 80) -> list[str]:
    """Lines the terminal would cut, except one unbreakable piece (a long URL) on its own."""
    return [
        line
        for line in text.splitlines()
        if cell_len(line) > width and len(line.strip(" " + _NOT_WORD).split()) > 1
    ]


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_the_help_patches_to_typer_still_take_effect() -> None:
    # cli/plumbing.py patches two private corners of Typer (its TextWrapper, TyperArgument's
    # usage name): on a Typer where they moved, help would quietly go back to "{ORDER_ID}"
    # and to breaking "igest-" / "sync/1" at a hyphen. This says so loudly instead.
    runner = CliRunner()
    resend = runner.invoke(app, ["resend", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert "[ORDER_ID]..." in resend.output and "{ORDER_ID}" not in resend.output
    from typer._click import _textwrap  # the module plumbing patches

    assert getattr(_textwrap.TextWrapper, "keeps_words_whole", False)


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "igest-sync")
def test_help_at_80_columns_cuts_no_word(path: list[str]) -> None:
    runner = CliRunner()

    def rendered(width: int) -> str:
        result = runner.invoke(
            app,
            [*path, "--help"],
            env={"COLUMNS": str(width)},
            terminal_width=width,
            max_content_width=width,
        )
        assert result.exit_code == 0, result.output
        return result.output

    narrow, wide = rendered(80), rendered(1000)
    assert too_long(narrow) == []
    assert pieces(narrow) - pieces(wide) == set(), narrow


def run_demo(tmp_path, width: int) -> str:
    home = tmp_path / f"home-{width}"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "COLUMNS": str(width)}
    env.pop("IGEST_SYNC_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "igest_sync", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow(11)
def test_the_demo_runs_the_whole_cycle_at_80_columns_and_cuts_no_word(tmp_path) -> None:
    # 99: the same compact tables as at 80 (fewer columns under 100), with room to spare. The
    # two demos run side by side (each on its own sandbox, ports and folder): most of a demo's
    # time is the sandbox's real rate limits and serve's start, not CPU.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        narrow_run, wide_run = (pool.submit(run_demo, tmp_path, w) for w in (80, 99))
        narrow, wide = narrow_run.result(), wide_run.result()
    assert too_long(narrow) == []
    cut = pieces(narrow) - pieces(wide)
    assert cut == set(), f"cut at 80 columns: {sorted(cut)}"
    assert "(prices with VAT)" in narrow  # never "(prices" / "with VAT)"
    # The demo tells the whole story, and exits 0 (run_demo checks the exit code).
    for title in ("Checks", "Documents issued", "Products summary", "Stock summary"):
        assert title in narrow
    # The demo counts the 429s it met; that there are none over real sockets and real time is
    # a timing claim (a loaded machine wakes a paced thread late): the benchmark's, and the
    # rate-limit tests' on a virtual clock. A 429 met is waited out: the demo still exits 0.
    assert re.search(r"429 responses: \d+\n", narrow)
    assert "Demo finished." in narrow
    # The real-time part: serve started, the hooks registered, an order invoiced from its
    # webhook (the demo waits at most 30 s, and says so when the document does not come).
    assert re.search(r"Order \d+ invoiced as FR A/\d+, [\d.]+ s after payment\.", narrow)
    assert "serve stopped (exit code 0)." in narrow


def _whole_words(text: str) -> set[str]:
    """The words of ``text`` as a reader sees them: borders gone, and the punctuation that
    joins a word to the next (``Silva,`` ``29.90;`` ``23.00%:``) taken off."""
    return {p.strip(",;:()") for p in _PIECE.findall(text)} - {""}


@pytest.mark.parametrize("columns", [80, 100])
def test_approve_lists_every_draft_whole_under_the_wide_layout(sandbox, tmp_path, columns):
    # Review mode, the default of a new store: the seed's paid orders wait as drafts, among
    # them a long company name, three VAT rates in one draft and an exemption with iGEST's
    # description (10010, M07). The sandbox's virtual day: nothing depends on today's date.
    from igest_sync.render.console import WIDE_FROM, local_time
    from tests.support.cli import make_cli

    reviewing = make_cli(sandbox, tmp_path, invoice={"review": True})
    assert reviewing("invoice").code == 0
    waiting = reviewing("approve", "--json").json()["waiting"]
    assert len(waiting) > 5 and any(d["exemptions"] for d in waiting)

    def approve(width: int) -> str:
        reviewing.env["COLUMNS"] = str(width)
        done = reviewing("approve")
        assert done.code == 0, done.stdout + done.stderr
        return done.stdout

    narrow, roomy = approve(columns), approve(WIDE_FROM - 1)
    assert too_long(narrow, columns) == []
    # Every fact of every draft, and what names it, is printed whole: no name, NIF, amount or
    # word of iGEST's description cut in two ("Ferre" / "ira", "105.0" / "0;"), no header or
    # label broken ("Cust" / "omer", "E" / "x" / "e" ...).
    known = {"Order", "Customer", "NIF", "Invoice", "total", "VAT", "rate", "Exemption", "iGEST"}
    for d in waiting:
        known |= {str(d["order_id"]), d["nif"], d["gross_total"], *d["customer"].split()}
        for v in d["vat"]:
            known |= {f"{v['rate']}%", v["vat"], v["base"]}
        for e in d["exemptions"]:
            known |= {e["code"], *e["description"].split()}
    words = _whole_words(narrow)
    assert {w.strip(",;:()") for w in known} - words == set(), narrow
    for d in waiting:  # a payment time is one piece: never the date on one line, the hour below
        assert local_time(d["paid_at"]) in narrow
    # Nor any other word: the narrow listing has no piece that the same layout with room to
    # spare does not have.
    assert pieces(narrow) - pieces(roomy) == set(), narrow
