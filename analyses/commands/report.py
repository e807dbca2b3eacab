"""`python -m analyses report RUN_DIR`: re-render the report of an earlier run, without refitting.

The report is built from the run folder's own files, so this rewrites ``report.md`` and
``report.html`` in place (atomically: a failed render leaves the old report) with the current
report code; with ``--format docx`` it also writes ``report.docx`` through pandoc. "What
changed" compares against the run made just before it in the same folder.
"""

from __future__ import annotations

from pathlib import Path

from analyses.commands.publish import previous_runs, readable_manifest
from analyses.inference.provenance import atomic_write_text
from analyses.report.folder import RunFolder
from analyses.report.render import report_docx, report_html, report_markdown
from models.evidence.problems import InputError, Problem


def render_report(run_dir: Path, docx: bool = False) -> tuple[Path, ...]:
    """Re-render ``report.md`` and ``report.html`` (and ``report.docx``) of a run."""
    run = RunFolder(Path(run_dir).resolve())
    if not run.is_run():
        problem = Problem(str(run_dir), "", "RUN_DIR", "no manifest.json there", "a run folder")
        raise InputError([problem])
    if missing := run.missing():
        problem = Problem(
            str(run_dir),
            "",
            "RUN_DIR",
            f"no {', '.join(missing)} (a run written by an older version of the toolkit)",
            "a run folder this version can read: rerun the analysis to report on it",
        )
        raise InputError([problem])
    manifest = readable_manifest(run.path)
    if manifest is None:
        problem = Problem(
            str(run_dir),
            "",
            "manifest.json",
            "an unreadable or incomplete manifest",
            "the JSON manifest a run writes (with run_id, created and headline)",
        )
        raise InputError([problem])
    earlier = [
        p
        for p in previous_runs(run.path.parent)
        if readable_manifest(p)["created"] < manifest["created"]
    ]
    previous = RunFolder(earlier[-1]) if earlier else None
    text = report_markdown(run, previous)
    atomic_write_text(run.report_md, text)
    atomic_write_text(run.report_html, report_html(text, run, run.manifest["run_id"]))
    written = (run.report_md, run.report_html)
    return (*written, report_docx(run.path)) if docx else written


def main_report(run_dir: Path, report_format: str = "html") -> int:
    """The `report` command: Markdown and HTML always, Word as well with ``docx``."""
    written = render_report(run_dir, docx=report_format == "docx")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
