"""The HTML report escapes what comes from files: a study label cannot inject markup."""

from __future__ import annotations

from analyses.report.render import report_html


def test_markup_in_report_text_is_escaped_not_rendered():
    text = (
        "| study | label |\n|---|---|\n| x | <script>alert(1)</script> |\n\n"
        'Note: <img src=x onerror="alert(2)">\n\n'
        "**NOT CERTIFIED**: the convergence gate failed. The numbers below are provisional.\n"
    )
    page = report_html(text, run=None, title="run <b>1</b>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "<title>run &lt;b&gt;1&lt;/b&gt;</title>" in page
    assert '<p class="banner"><strong>NOT CERTIFIED</strong>' in page  # still styled
