"""The monitoring page of one scored batch (report.html beside report.json): what an operator reads.

A verdict banner with the alarms that fired, then data drift (test, changed terms, example messages), prediction
drift (shares and changes with intervals), confidence, estimated accuracy and macro-F1, novelty and descriptors.
Any section of report.json may be null (a batch too small to judge, a figure that could not be computed): the page
then says why instead of failing. Message texts, ids, terms and category names are hostile; they reach the page
only through the autoescaping templates of `reports` and are drawn in charts as plain text (no mathtext).
"""
from __future__ import annotations

import warnings

import jinja2
from matplotlib.figure import Figure

from processing.monitoring.alarms import SYMBOLS
from processing.sanitize import shown_value
from reports import ReportError, png_data_uri, render

SCHEMA = "tweetops.monitoring.report/1"
TEMPLATE = "monitoring.html.j2"
CHART_CATEGORIES = 30  # the chart shows the categories that changed most; the table lists them all
CHART_LABEL_CHARS = 32
BASELINE_COLOUR, BATCH_COLOUR, SIGNIFICANT_COLOUR = "#8c9db5", "#2f6db5", "#c8423b"
SECTIONS = ("data_drift", "prediction_drift", "confidence", "estimated", "novelty", "descriptors")


def monitoring_report_html(report: dict) -> str:
    """The self-contained HTML page (inline CSS, charts as data URIs) for one batch's report.json."""
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise ReportError(f"not a {SCHEMA} report (schema: {shown_value(found)})")
    try:
        return _render(report)
    except ReportError:
        raise
    except jinja2.UndefinedError as error:
        raise ReportError(f"the report lacks a figure the page shows: {error}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise ReportError(f"a figure of the report has the wrong type: {shown_value(error, 120)}") from None


def _render(report: dict) -> str:
    sections = {name: report.get(name) for name in SECTIONS}
    return render(TEMPLATE, report=report, batch=report.get("batch") or {}, **sections,
                  state=verdict_state(report), alarms=alarm_rows(report.get("alarms") or []),
                  missing=missing_reason(report), charts=charts(sections))


def verdict_state(report: dict) -> str:
    """The banner's kind: "alarm" when an alarm fired, "unjudged" for a batch too small to judge, else "ok"."""
    if report.get("alarms"):
        return "alarm"
    return "ok" if report.get("judged") else "unjudged"


def missing_reason(report: dict) -> str:
    """What a null section says: the verdict of a batch that was not judged, else that it was not computed."""
    if not report.get("judged"):
        return f"Not computed: {report.get('verdict') or 'the batch was not judged'}."
    return "Not computed for this batch."


def alarm_rows(alarms: list[dict]) -> list[dict]:
    """The fired alarms with their comparison as a symbol (">=", "<") for the banner's table."""
    return [{**alarm, "symbol": SYMBOLS.get(alarm.get("comparison"), alarm.get("comparison") or "")}
            for alarm in alarms]


def charts(sections: dict) -> dict[str, str | None]:
    """Each chart of the page as a PNG data URI (None when its section or figures are missing)."""
    prediction, confidence = sections["prediction_drift"], sections["confidence"]
    length = (sections["descriptors"] or {}).get("text_length")
    with warnings.catch_warnings():
        # Category names may hold characters the chart font lacks (emoji, rare scripts): drawn as boxes, no warning.
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        return {
            "prediction": _uri(prediction_figure(prediction["categories"])) if prediction else None,
            "confidence": _uri(histogram_figure(confidence.get("histogram"), "confidence")) if confidence else None,
            "text_length": _uri(histogram_figure(length.get("histogram"), "characters")) if length else None,
        }


def _uri(figure: Figure | None) -> str | None:
    return png_data_uri(figure) if figure is not None else None


def chart_label(name) -> str:
    """A category name as a chart label: control characters shown as escapes, shortened."""
    return shown_value(name, CHART_LABEL_CHARS)


def prediction_figure(categories: list[dict]) -> Figure | None:
    """Baseline vs batch share per category, and the change with its 95% interval; significant ones in red."""
    rows = [row for row in categories if row.get("batch_share") is not None][:CHART_CATEGORIES]
    if not rows:
        return None
    rows = rows[::-1]  # barh draws bottom-up: the largest change on top
    positions = list(range(len(rows)))
    figure = Figure(figsize=(10, 1.2 + 0.32 * len(rows)), layout="constrained")
    shares, changes = figure.subplots(1, 2, sharey=True)
    shares.barh([p + 0.2 for p in positions], [row["baseline_share"] for row in rows], height=0.4,
                color=BASELINE_COLOUR)
    shares.barh([p - 0.2 for p in positions], [row["batch_share"] for row in rows], height=0.4,
                color=[SIGNIFICANT_COLOUR if row.get("significant") else BATCH_COLOUR for row in rows])
    shares.set_yticks(positions, [chart_label(row["category"]) for row in rows], parse_math=False)
    shares.set_xlabel("share of messages")
    # A legend would cover bars: the title says which colour is which.
    shares.set_title("share: baseline (grey), batch (blue; red if significant)", loc="left", fontsize="medium")
    for position, row in zip(positions, rows):
        change = row["change"]
        low, high = row.get("interval") or (change, change)
        colour = SIGNIFICANT_COLOUR if row.get("significant") else BATCH_COLOUR
        changes.errorbar([change], [position], xerr=[[change - low], [high - change]], fmt="o", color=colour,
                         capsize=3)
    changes.axvline(0.0, color="#555555", linewidth=0.8)
    changes.set_xlabel("batch - baseline (95% interval)")
    changes.set_title("change (red: significant)", loc="left", fontsize="medium")
    return figure


def histogram_figure(histogram: dict | None, xlabel: str) -> Figure | None:
    """Two histograms side by side on one scale: the baseline's and the batch's shares per bin."""
    if not histogram or not histogram.get("edges"):
        return None
    edges = histogram["edges"]
    widths = [right - left for left, right in zip(edges, edges[1:])]
    figure = Figure(figsize=(9, 2.8), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    for panel, name, colour in zip(panels, ("baseline", "batch"), (BASELINE_COLOUR, BATCH_COLOUR)):
        values = histogram.get(name) or []
        if len(values) != len(widths):
            raise ReportError(f"the {xlabel} histogram has {len(values)} {name} shares for {len(widths)} bins")
        panel.bar(edges[:-1], values, width=widths, align="edge", color=colour, edgecolor="white")
        panel.set_title(name, loc="left")
        panel.set_xlabel(xlabel)
    panels[0].set_ylabel("share of messages")
    return figure
