"""Specification of the monitoring page (report.html): what an operator reads for one scored batch, built from
report.json as spec'd (schema tweetops.monitoring.report/1); every text from input is shown as text, never run."""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import jinja2
import pytest

import reports
from reports.monitoring import ReportError, monitoring_report_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT_TEXT = "<script>alert(1)</script>"
IMG_CATEGORY = "<img src=x onerror=alert(1)>"


def full_report() -> dict:
    """A judged batch with every section filled in, two alarms fired, one category that changed significantly."""
    return {
        "schema": "tweetops.monitoring.report/1",
        "batch": {"rows_in": 2100, "messages": 2000, "sampled": 1000, "model_package": "arn:pkg/3",
                  "model_version": "3", "category_map_version": "map-7", "pipeline": "tweetops-inference",
                  "created": "2026-12-01T10:00:00+00:00"},
        "judged": True,
        "verdict": "drift: data drift (p=0.002), novel share 9.0% > 5.0%",
        "data_drift": {"detected": True, "method": "mmd-permutation", "statistic": 0.0123, "p_value": 0.002,
                       "alpha": 0.05, "permutations": 500, "reference_size": 1000, "batch_sample": 1000,
                       "changed_terms": {
                           "more_frequent": [{"term": "criptomonedas", "z": 7.1, "batch_share": 0.09,
                                              "baseline_share": 0.001}],
                           "less_frequent": [{"term": "refund", "z": -4.2, "batch_share": 0.02,
                                              "baseline_share": 0.06}]},
                       "distinctive_terms": [{"term": "bitcoin", "z": 9.3, "batch_share": 0.4,
                                              "baseline_share": 0.0}],
                       "examples": [{"id": "m-17", "text": "¿Puedo pagar con criptomonedas?", "score": 0.31}]},
        "prediction_drift": {"detected": True, "alpha": 0.01, "chi2_p_value": 0.0004, "jensen_shannon": 0.08,
                             "categories": [
                                 {"category": "payments", "baseline_share": 0.2, "batch_share": 0.3, "change": 0.1,
                                  "interval": [0.07, 0.13], "p_value": 0.0001, "significant": True},
                                 {"category": "refunds", "baseline_share": 0.8, "batch_share": 0.7, "change": -0.1,
                                  "interval": [-0.13, -0.07], "p_value": 0.2, "significant": False}]},
        "confidence": {"baseline_mean": 0.82, "batch_mean": 0.74, "ks_statistic": 0.12, "ks_p_value": 0.001,
                       "histogram": {"edges": [i / 10 for i in range(11)],
                                     "baseline": [0, 0, 0, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.3],
                                     "batch": [0, 0, 0.01, 0.04, 0.05, 0.1, 0.15, 0.2, 0.25, 0.2]}},
        "estimated": {"accuracy": 0.71, "macro_f1": 0.66, "baseline_accuracy": 0.86, "baseline_macro_f1": 0.83,
                      "baseline_estimated_accuracy": 0.86, "accuracy_drop": 0.15,
                      "method": "CBPE from calibrated confidence"},
        "novel_share": 0.09,
        "novelty": {"baseline_share": 0.02, "batch_share": 0.09, "increase": 0.07, "count": 180, "p_value": 1e-9, "queued": 180},
        "descriptors": {
            "text_length": {"baseline_mean": 61.0, "batch_mean": 64.5, "ks_p_value": 0.3,
                            "histogram": {"edges": [0, 20, 40, 60, 80, 100, 120, 140, 160, 200, 280],
                                          "baseline": [0.05, 0.2, 0.3, 0.2, 0.1, 0.05, 0.05, 0.03, 0.02, 0.0],
                                          "batch": [0.04, 0.18, 0.3, 0.22, 0.1, 0.06, 0.05, 0.03, 0.02, 0.0]}},
            "languages": {"baseline": {"es": 0.5, "en": 0.45, "other": 0.05},
                          "batch": {"es": 0.52, "en": 0.44, "other": 0.04}, "p_value": 0.6},
            "quarantine": {"share": 0.048, "baseline_share": 0.03,
                           "by_reason": {"empty_text": 60, "duplicate_id": 40}}},
        "alarms": [
            {"alarm": "data-drift", "metric": "DataDriftDetected", "value": 1.0, "threshold": 1.0,
             "comparison": "GreaterThanOrEqualToThreshold", "message": "DataDriftDetected 1 >= 1: messages differ"},
            {"alarm": "novel-share", "metric": "NovelShare", "value": 0.09, "threshold": 0.05,
             "comparison": "GreaterThanThreshold", "message": "NovelShare 0.09 > 0.05: novel messages"}],
    }


def unjudged_report() -> dict:
    """A batch too small to judge: every section null, no alarm."""
    report = full_report()
    report.update(judged=False, verdict="too few messages to judge: 150 < minimum 200", alarms=[], novel_share=None,
                  **{name: None for name in ("data_drift", "prediction_drift", "confidence", "estimated", "novelty",
                                             "descriptors")})
    return report


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def named(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.tags if tag == name]


def test_the_banner_names_the_verdict_and_each_alarm_with_metric_value_threshold_and_message():
    html = monitoring_report_html(full_report())
    banner = html[html.index('id="verdict"'):html.index('id="data-drift"')]
    assert 'class="banner alarm"' in html
    assert "drift: data drift (p=0.002), novel share 9.0% &gt; 5.0%" in banner
    for text in ("data-drift", "DataDriftDetected", "&gt;= 1", "novel-share", "NovelShare", "0.09", "&gt; 0.05",
                 "NovelShare 0.09 &gt; 0.05: novel messages"):
        assert text in banner


def test_every_section_of_a_judged_report_shows_its_figures_terms_and_messages():
    html = monitoring_report_html(full_report())
    for text in ("criptomonedas", "refund", "bitcoin", "¿Puedo pagar con criptomonedas?", "m-17", "mmd-permutation",
                 "payments", "+10.0 pp", "+7.0 pp to +13.0 pp", "71.0%", "86.0%", "66.0%", "83.0%",
                 "CBPE from calibrated confidence", "9.0%", "180 queued", "empty_text", "4.8%", "52.0%"):
        assert text in html, text
    assert "Not computed" not in html


def test_the_significant_category_is_highlighted_and_the_others_are_not():
    html = monitoring_report_html(full_report())
    rows = re.findall(r"<tr( class=\"significant\")?><td><bdi>(\w+)</bdi>", html)
    assert ("", "refunds") in rows and (' class="significant"', "payments") in rows


def test_the_page_has_three_charts_inlined_as_reproducible_pngs_and_requests_nothing():
    html = monitoring_report_html(full_report())
    tags = Tags(html)
    images = [attrs["src"] for attrs in tags.named("img")]
    assert len(images) == 3  # prediction drift, confidence, text length
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        png = base64.b64decode(uri.split(",", 1)[1])
        assert png.startswith(PNG_SIGNATURE) and b"Software" not in png and b"matplotlib" not in png
    assert not tags.named("script") and not tags.named("link") and not tags.named("iframe")
    assert all(not value or not value.startswith(("http:", "https:", "//"))
               for _, attrs in tags.tags for value in attrs.values())
    assert monitoring_report_html(full_report()) == html  # same report, byte-identical page


def test_a_batch_too_small_to_judge_renders_every_section_with_the_verdicts_reason_and_no_chart():
    html = monitoring_report_html(unjudged_report())
    assert 'class="banner unjudged"' in html
    assert html.count("Not computed: too few messages to judge: 150 &lt; minimum 200.") == 6
    assert "No alarm fired: the batch was not judged." in html
    assert not Tags(html).named("img")


def test_a_section_missing_from_a_judged_report_says_it_was_not_computed():
    report = full_report()
    report.update(estimated=None, alarms=[], verdict="no drift")
    report["descriptors"]["quarantine"] = None
    html = monitoring_report_html(report)
    assert 'class="banner ok"' in html and "No alarm fired." in html
    assert html.count("Not computed for this batch.") == 2


def test_a_message_and_a_category_name_with_html_are_shown_as_text_never_as_tags():
    report = full_report()
    report["data_drift"]["examples"][0].update(text=SCRIPT_TEXT, id=IMG_CATEGORY)
    report["data_drift"]["changed_terms"]["more_frequent"][0]["term"] = SCRIPT_TEXT
    report["prediction_drift"]["categories"][0]["category"] = IMG_CATEGORY
    report["descriptors"]["quarantine"]["by_reason"] = {IMG_CATEGORY: 3}
    html = monitoring_report_html(report)
    tags = Tags(html)
    assert not tags.named("script")
    assert len(tags.named("img")) == 3 and all("onerror" not in attrs for attrs in tags.named("img"))
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 3


def test_control_and_bidirectional_characters_from_a_message_are_shown_as_escapes():
    report = full_report()
    report["data_drift"]["examples"][0]["text"] = "pay\u202egnp.exe\x1b[2J done"
    html = monitoring_report_html(report)
    assert "pay\\u202egnp.exe\\x1b[2J done" in html and "\u202e" not in html and "\x1b" not in html


def test_a_category_name_that_looks_like_mathtext_is_drawn_as_plain_text():
    report = full_report()
    # Parsed as mathtext this is a syntax error (matplotlib raises ValueError): the chart draws labels verbatim.
    report["prediction_drift"]["categories"][0]["category"] = r"$\frac{1}{$ 50%_{x}"
    html = monitoring_report_html(report)
    assert len(Tags(html).named("img")) == 3


def test_something_that_is_not_a_monitoring_report_is_refused_in_one_line():
    with pytest.raises(ReportError, match=r"^not a tweetops.monitoring.report/1 report \(schema: other/1\)$"):
        monitoring_report_html({"schema": "other/1"})
    with pytest.raises(ReportError, match=r"schema: list"):
        monitoring_report_html([])


def test_a_report_lacking_a_figure_of_a_present_section_is_refused_naming_it():
    report = full_report()
    del report["novelty"]["queued"]
    with pytest.raises(ReportError, match="lacks a figure the page shows: .*'queued'") as error:
        monitoring_report_html(report)
    assert "\n" not in str(error.value)


def test_a_histogram_whose_shares_do_not_match_its_bins_is_refused():
    report = full_report()
    report["confidence"]["histogram"]["batch"] = [0.5, 0.5]
    with pytest.raises(ReportError, match="confidence histogram has 2 batch shares for 10 bins"):
        monitoring_report_html(report)


def test_every_report_template_escapes_and_refuses_undefined_names():
    env = reports.environment()
    assert env.from_string("{{ text }}").render(text=SCRIPT_TEXT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing }}").render()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# CI installs chromium (.ci/run): there the test must run, never skip.
@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium binary (apt-get install chromium)")
def test_in_a_real_browser_the_hostile_texts_run_nothing_and_the_charts_are_there(tmp_path):
    report = full_report()
    # Each payload would retitle the page if the browser ran it.
    report["data_drift"]["examples"][0]["text"] = "<script>document.title='pwned'</script>"
    report["prediction_drift"]["categories"][0]["category"] = "<img src=x onerror=\"document.title='pwned'\">"
    page = tmp_path / "report.html"
    page.write_text(monitoring_report_html(report), encoding="utf-8")
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                             "--user-data-dir=" + str(tmp_path / "profile"), page.as_uri()],
                            capture_output=True, text=True, timeout=30)
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<title>tweetops monitoring report</title>" in dom and "pwned</title>" not in dom
    tags = Tags(dom)
    assert not tags.named("script")
    assert [attrs["src"][:22] for attrs in tags.named("img")] == ["data:image/png;base64,"] * 3
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
