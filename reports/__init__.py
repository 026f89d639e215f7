"""The one home for HTML reports: one template engine (jinja2), one escaping policy, shared by every report.

Every report shows text that came from input (messages, category names, terms), which is hostile (DESIGN.md,
threat model). So every template is rendered with autoescaping on, whatever its file name, and nothing is
marked safe: a `<script>` in a message is shown as the characters `<script>`. Texts from input also go
through the `visible` filter (sanitize.terminal_text): control and bidirectional characters are shown as escapes,
so a right-to-left override cannot reorder what the page shows around it. Undefined names are errors
(StrictUndefined), so a template that refers to a figure the report lacks fails instead of showing a blank.
Images are inlined as PNG data URIs, so a report is one self-contained file that requests nothing.
"""
from __future__ import annotations

import base64
import io
import math
import sys

import jinja2

from processing.sanitize import terminal_text

PNG_DPI = 96
MISSING = "—"


class ReportError(ValueError):
    """A document a report page cannot be made from (not the kind the page shows, a figure of the wrong kind)."""


def number(value, digits: int = 3) -> str:
    """A figure for a table: `digits` significant digits; None or NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}g}"


def share(value, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage ("12.5%"); None or NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100 * float(value):.{digits}f}%"


def signed_share(value, digits: int = 1) -> str:
    """A change of a fraction as signed percentage points ("+3.2 pp"); None as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100 * float(value):+.{digits}f} pp"


def environment() -> jinja2.Environment:
    """The template environment every report uses: templates from reports/templates, autoescape always on."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(number=number, share=share, signed_share=signed_share, visible=terminal_text)
    return env


_ENVIRONMENT = environment()


def render(template: str, **context) -> str:
    """Render a template of reports/templates with `context` (autoescaped; an undefined name raises)."""
    return _ENVIRONMENT.get_template(template).render(**context)


def png_bytes(figure) -> bytes:
    """A matplotlib figure as PNG bytes that depend only on what is drawn (no software or date metadata); the
    figure is closed when pyplot manages it."""
    buffer = io.BytesIO()
    # Agg is matplotlib's raster backend whatever the interactive backend is; the PNG writer adds a "Software"
    # text chunk with the matplotlib version unless told not to.
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None}, backend="agg")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    return buffer.getvalue()


def png_data_uri(figure) -> str:
    """A matplotlib figure as a `data:image/png;base64,...` URI for an <img> (the page stays self-contained)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure)).decode("ascii")
