"""Assemble report.md from the sections, resolve citations, and render a self-contained HTML.

Citations are written ``[@key]`` in the section text; each becomes "(Author Year)" and the
report ends with a reference list built from ``docs/references.bib`` in order of first citation.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

from analyses.report.folder import RunFolder
from analyses.report.references import cite
from analyses.report.sections import SECTIONS, ReportContext

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 980px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
img { max-width: 100%; border: 1px solid #eee; }
.banner { background: #fdecea; border: 2px solid #c0392b; padding: 0.8em; font-weight: bold; }
code { background: #f4f4f4; padding: 1px 4px; }
"""
CERTIFIED_BANNER = "<p><strong>NOT CERTIFIED</strong>"  # the opening of the warning paragraph
FIGURE_SRC = re.compile(r'src="figures/([A-Za-z0-9_-]+)\.png"')


FIGURE = re.compile(r"!\[([^\]]*)\]\((figures/[^)]+)\)")
HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


def report_markdown(run: RunFolder, previous: RunFolder | None = None) -> str:
    """The report's Markdown: contents, every section (figures numbered), the references."""
    ctx = ReportContext(run, previous)
    parts = [section(ctx) for section in SECTIONS]
    text = number_figures(cite("\n".join(part for part in parts if part)))
    return with_contents(text)


def number_figures(text: str) -> str:
    """Number the figures in order of appearance, each with its caption under it."""
    count = 0

    def numbered(match: re.Match) -> str:
        nonlocal count
        count += 1
        caption = match.group(1).strip()
        return f"![Figure {count}. {caption}]({match.group(2)})\n\n*Figure {count}. {caption}*"

    return FIGURE.sub(numbered, text)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it (so the contents work in both renderings)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def with_contents(text: str) -> str:
    """A table of contents of the ``##`` sections, after the title and its first paragraph."""
    headings = HEADING.findall(text)
    if not headings:
        return text
    contents = "**Contents:** " + " · ".join(f"[{h}](#{slug(h)})" for h in headings) + "\n\n"
    first = text.index("\n## ")
    return text[: first + 1] + contents + text[first + 1 :]


def report_html(text: str, run: RunFolder, title: str) -> str:
    """A self-contained HTML page; only the run's own figures are embedded, by name.

    Raw HTML in the Markdown is escaped, not passed through: labels, notes and file names
    come from study files and configurations, and must not be able to inject markup.
    """
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    body = re.sub(
        r"<h2>(.+?)</h2>",
        lambda m: (
            f'<h2 id="{slug(html.unescape(re.sub("<[^>]+>", "", m.group(1))))}">{m.group(1)}</h2>'
        ),
        body,
    )
    body = body.replace(CERTIFIED_BANNER, '<p class="banner"><strong>NOT CERTIFIED</strong>')

    def embed(match: re.Match) -> str:
        path = run.figure(match.group(1))
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = FIGURE_SRC.sub(embed, body)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
        "</body></html>\n"
    )


def write_report(run_dir: Path, previous: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into ``run_dir`` from its own files.

    Parameters
    ----------
    run_dir : Path
        A run folder (or a staging folder holding a complete run).
    previous : Path, optional
        The previous run's folder, for "What changed".

    Returns
    -------
    tuple of Path
        The Markdown and HTML files.
    """
    run = RunFolder(Path(run_dir))
    text = report_markdown(run, RunFolder(Path(previous)) if previous else None)
    run.report_md.write_text(text)
    run.report_html.write_text(report_html(text, run, run.manifest["run_id"]))
    return run.report_md, run.report_html


def report_docx(run_dir: Path) -> Path:
    """Write ``report.docx`` beside ``report.md``, by pandoc, for co-authors who edit in Word.

    pandoc (bundled by the pypandoc-binary wheel) reads the Markdown as GitHub writes it and
    finds the figures in the run folder; the file is written whole or not at all.
    """
    import pypandoc

    run = RunFolder(Path(run_dir))
    target = run.path / "report.docx"
    partial = run.path / ".report.docx.partial"
    try:
        pypandoc.convert_file(
            str(run.report_md),
            "docx",
            format="gfm",
            outputfile=str(partial),
            extra_args=[
                f"--resource-path={run.path}",
                f"--metadata=title:{run.manifest['run_id']}",
            ],
        )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
