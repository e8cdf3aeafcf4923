"""docs/BENCHMARKS.md is one `make bench` run, exactly as bench/run_all.py writes it.

Every table, figure and note of the report is computed by bench/report.py from the raw
results it ends with, so rendering those results again must give the file back byte for
byte: a figure typed in by hand, a section added by hand or prose no run produced makes
the two differ.
"""

from __future__ import annotations

import json

import pytest

from tests.support.bench import DOCS_BENCHMARKS, bench_modules, recorded_run

run_all, report = bench_modules()


def _sections(markdown: str) -> dict[str, str]:
    """Each benchmark's section (between its `## ` title and the next), by title."""
    parts = markdown.split("\n## ")[1:]
    return {p.split("\n", 1)[0]: p for p in parts if p.split("\n", 1)[0] not in ("Summary",)}


# -- docs/BENCHMARKS.md --------------------------------------------------------------------


def _docs_results() -> dict:
    try:
        return report.load_results(DOCS_BENCHMARKS.read_text())
    except ValueError as exc:
        pytest.fail(f"docs/BENCHMARKS.md: {exc}")


def test_docs_benchmarks_is_exactly_what_the_writer_renders_from_its_raw_results() -> None:
    assert report.render(_docs_results()) == DOCS_BENCHMARKS.read_text(), (
        "docs/BENCHMARKS.md differs from what bench/report.py renders from its own raw "
        "results: edited by hand, or written by an older writer "
        "(`.venv/bin/python bench/run_all.py --render-from docs/BENCHMARKS.md` re-renders it)"
    )


def test_docs_benchmarks_holds_one_full_run_of_every_benchmark_at_one_commit() -> None:
    results = _docs_results()
    run, entries = results["run"], results["benchmarks"]
    assert not run["quick"]
    assert run["benchmarks"] == list(report.NAMES) == list(entries)
    assert {e["machine"]["git"] for e in entries.values()} == {run["machine"]["git"]}


# -- the writer ----------------------------------------------------------------------------


def test_every_benchmark_has_a_runner_a_summary_and_a_title() -> None:
    assert set(run_all.RUNNERS) == set(report.SUMMARIES) == set(report.TITLES)
    assert set(report.TITLES) == set(report.NAMES)


def test_a_report_renders_back_from_its_own_raw_results() -> None:
    markdown = report.render(recorded_run())
    assert report.render(report.load_results(markdown)) == markdown


def test_a_figure_edited_by_hand_no_longer_renders_back() -> None:
    markdown = report.render(recorded_run())
    assert "37.5% (1,502 req/s)" in markdown  # the api figure of the recorded run
    edited = markdown.replace("37.5% (1,502 req/s)", "97.2% (1,502 req/s)", 1)
    assert report.render(report.load_results(edited)) != edited


def test_a_section_added_by_hand_no_longer_renders_back() -> None:
    markdown = report.render(recorded_run())
    edited = markdown.replace(
        "\n## Raw results",
        "\n## Experiments\n\nThroughput with an experiment: 97.2 %.\n\n## Raw results",
    )
    assert report.render(report.load_results(edited)) != edited


def test_the_report_header_names_the_runs_command_commit_and_machine() -> None:
    header = report.render(recorded_run()).split("\n## Summary", 1)[0]
    assert "```bash\n.venv/bin/python bench/run_all.py\n```" in header
    assert "Commit 1a2b3c4; started 2026-12-05 08:00 UTC, took 50.0 min" in header
    assert "2 cores, 23.5 GB RAM, AMD EPYC" in header


def test_every_section_names_its_command_machine_and_commit() -> None:
    sections = _sections(report.render(recorded_run()))
    assert set(sections) == {title for title, _ in report.TITLES.values()} | {"Raw results"}
    for title, text in sections.items():
        if title == "Raw results":
            continue
        assert "Command (from the repository root):\n\n```bash\n.venv/bin/python" in text, title
        assert "\nMachine: 2 cores, 23.5 GB RAM, AMD EPYC;" in text, title
        assert "; commit 1a2b3c4; started 2026-12-05 08:10 UTC" in text, title


def test_no_string_written_into_the_writers_code_reaches_the_report_as_prose() -> None:
    # A paragraph kept as a constant (the API "history" once was) is text no run measured.
    markdown = report.render(recorded_run())
    for module in (run_all, report):
        for name, value in vars(module).items():
            if isinstance(value, str) and not name.startswith("__") and len(value) > 80:
                assert value not in markdown, f"{module.__name__}.{name}"


def test_the_api_section_notes_only_what_its_runs_reported() -> None:
    results = recorded_run(["api"])
    title = report.TITLES["api"][0]
    quiet = _sections(report.render(results))[title]
    assert [line for line in quiet.splitlines() if line.startswith("- ")] == [
        "- 1-minute load average at the start of each run: 1.5, 2.5, 3.5."
    ]
    results["benchmarks"]["api"]["runs"][0]["note"] = "the client shares the cores"
    noted = _sections(report.render(results))[title]
    assert "- the client shares the cores" in noted


def test_targets_the_scripts_state_are_read_from_their_output() -> None:
    results = recorded_run(["api"])
    for run in results["benchmarks"]["api"]["runs"]:
        run["ratio_target"] = 0.4
    markdown = report.render(results)
    assert "| ≥ 40% | **not met** |" in markdown


def test_a_run_that_stopped_early_names_the_benchmarks_it_did_not_reach() -> None:
    results = recorded_run()
    del results["benchmarks"]["ingest"]
    summary = report.render(results).split("\n## Summary", 1)[1].split("\n## ", 1)[0]
    assert "| ingest | the run stopped before this benchmark | — | — | — | — |" in summary


def test_a_partial_run_is_marked_and_never_goes_to_docs_benchmarks(tmp_path) -> None:
    partial = recorded_run(["api"])["run"]
    quick = recorded_run(quick=True)["run"]
    full = recorded_run()["run"]
    assert run_all.output_path(None, full) == run_all.DEFAULT_OUTPUT
    for run in (partial, quick):
        assert run_all.output_path(None, run) != run_all.DEFAULT_OUTPUT
        assert run_all.output_path(tmp_path / "x.md", run) == tmp_path / "x.md"
        with pytest.raises(ValueError, match="one full run only"):
            run_all.output_path(run_all.DEFAULT_OUTPUT, run)
    assert "(`--only`: not every benchmark)" in report.render(recorded_run(["api"]))
    assert "**Smoke run (`--quick`)" in report.render(recorded_run(quick=True))


def test_raw_results_merged_from_several_runs_are_refused() -> None:
    merged = {name: entry for name, entry in recorded_run()["benchmarks"].items()}
    text = f"{report.BEGIN}\n{json.dumps(merged)}\n{report.END}\n"
    with pytest.raises(ValueError, match="not one run's"):
        report.load_results(text)
