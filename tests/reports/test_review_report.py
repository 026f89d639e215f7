"""Specification of the review page (report.html): what an analyst reads for a discovery run's proposed categories
(clusters.json) and for an evolution proposal (proposal.json, schema tweetops.evolution.proposal/1), both as
docs/evolution.md and the issue-15 spec shape them; every text from input is shown as text, never run, also in a
real browser."""
from __future__ import annotations

import base64
import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from reports import ReportError
from reports.review import discovery_report_html, proposal_report_html, write_review_report
from tests.reports.test_monitoring_report import IMG_CATEGORY, SCRIPT_TEXT, Tags

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The XSS rows of tests/hostile_corpus.py ("xss_and_formulas.csv"), then payloads that would retitle the page if a
# browser ran them, each aimed at a place the page puts text: an element, an attribute, a table cell, the
# decisions <pre>, a template expression.
CORPUS_PAYLOADS = ["<script>alert(1)</script> no me llegó la tarjeta de crédito",
                   '=HYPERLINK("http://evil.example","my card was charged twice this month")',
                   "<img src=x onerror=alert(1)> no me llegó la tarjeta de crédito"]
PWNING_PAYLOADS = ["<script>document.title='pwned'</script>",
                   "<img src=x onerror=\"document.title='pwned'\">",
                   "\"><svg onload=\"document.title='pwned'\">",
                   "</bdi></td></tr></table><script>document.title='pwned'</script>",
                   "</pre></section><iframe srcdoc=\"<script>parent.document.title='pwned'</script>\"></iframe>",
                   "</summary></details><a href=\"javascript:document.title='pwned'\" id=clickme>x</a>",
                   "{{ 7 * 7 }} {% raw %}"]
HOSTILE = CORPUS_PAYLOADS + PWNING_PAYLOADS
SCREENSHOT_DIR = os.environ.get("TWEETOPS_SCREENSHOT_DIR")  # set to keep the screenshots (docs/images/)


def discovery_doc(n_categories: int = 3, hostile: bool = False) -> dict:
    """A clusters.json with `n_categories` proposed categories of two fine clusters each, a hierarchy and a map."""
    texts = HOSTILE if hostile else ["no me llegó la tarjeta", "my card was charged twice", "quiero cancelar"]
    fine, categories = [], []
    for g in range(n_categories):
        members = [2 * g, 2 * g + 1]
        for f in members:
            fine.append({"cluster": f, "size": 40 + f, "top_terms": [f"term{f}", "tarjeta"],
                         "centroid_terms": {f"term{f}": 1.0}, "representative": [], "borderline": []})
        categories.append({
            "category": g, "clusters": members, "size": 81 + 4 * g, "name": f"tarjeta_cobro_{g}",
            "top_terms": ["tarjeta", "cobro", f"word{g}"],
            "top_terms_by_language": {"en": ["card", "charged"], "es": ["tarjeta", "cobro"]},
            "representative": [{"id": f"m-{g}-{i}", "text": texts[(g + i) % len(texts)]} for i in range(3)],
            "borderline": [{"id": f"b-{g}", "text": texts[g % len(texts)], "margin": 0.0123}]})
    if hostile:
        categories[0].update(name=SCRIPT_TEXT, top_terms=[IMG_CATEGORY, "tarjeta"],
                             representative=[{"id": f"h{i}", "text": text} for i, text in enumerate(HOSTILE)],
                             top_terms_by_language={"en": [PWNING_PAYLOADS[2]], "es": ["tarjeta"]})
    points = 300
    return {
        "clustering_run": "run-0123456789abcdef", "n_clusters": 2 * n_categories,
        "quality": {"n_clusters": 2 * n_categories, "silhouette": 0.0812, "smallest_cluster": 40,
                    "largest_cluster": 40 + 2 * n_categories},
        "selection": {"chosen": "umap", "k_silhouettes": {str(k): 0.05 + k / 1000 for k in range(4, 31)},
                      "k_at_upper_bound": False, "fit_rows": 2990, "umap_skipped": None,
                      "candidates": {"plain": {"k": 2 * n_categories, "score": 0.41},
                                     "umap": {"k": 2 * n_categories, "score": 0.47}}},
        "clusters": fine,
        "categories": categories,
        "hierarchy": {"method": "average linkage of fine-cluster centroids", "chosen": n_categories,
                      "why": "the cut with the highest silhouette of the grouped messages",
                      "scores": {str(n): 0.2 + (0.1 if n == n_categories else 0.01 * n) for n in range(2, 9)},
                      "linkage": [[0, 1, 0.2, 2], [2, 3, 0.3, 2]]},
        "map_points": map_points(points, n_categories, "category"),
    }


def map_points(n: int, n_groups: int, key: str) -> dict:
    """A seeded 2-D map: `n` points in `n_groups` blobs on a circle, labelled under `key`."""
    rng = np.random.default_rng(0)
    groups = np.arange(n) % n_groups
    angle = 2 * np.pi * groups / n_groups
    x, y = 10 * np.cos(angle) + rng.normal(0, 1.2, n), 10 * np.sin(angle) + rng.normal(0, 1.2, n)
    return {"x": x.round(4).tolist(), "y": y.round(4).tolist(), key: groups.tolist(), "id": [f"p{i}" for i in range(n)]}


def window_cluster(g: int, fine: list[int], size: int, name: str, texts: list[str], match: str | None) -> dict:
    """One window cluster (a group of fine clusters) as proposal.json describes it."""
    return {"cluster": g, "fine_clusters": fine, "size": size, "name": name,
            "top_terms": [f"{name}_term", "card"], "top_terms_by_language": {"es": ["tarjeta"], "en": ["card"]},
            "representative": [{"id": f"w{g}-{i}", "text": texts[(g + i) % len(texts)]} for i in range(2)],
            "borderline": [{"id": f"wb{g}", "text": texts[g % len(texts)], "margin": 0.002}],
            "sizes_by_date": {"2026-11-01": size // 4, "2026-11-02": size // 4, "2026-11-03": size - size // 2},
            "novel_share": 0.6 if match is None else 0.02,
            "match": {"category": match, "similarity": 0.31 if match is None else 0.92,
                      "overlap": 0.1 if match is None else 0.88}}


def proposal_doc(hostile: bool = False) -> dict:
    """A proposal against map version 3: c1, c2 kept, c3 split into 2 and 3, c4 + c5 merged into 4, c6 gone, a
    new candidate 5."""
    texts = HOSTILE if hostile else ["me cobraron dos veces", "my parcel never arrived", "got a phishing text"]
    clusters = [window_cluster(0, [0, 1], 200, "billing", texts, "c1"),
                window_cluster(1, [2], 150, "delivery", texts, "c2"),
                window_cluster(2, [3], 90, "card_lost", texts, "c3"),
                window_cluster(3, [4], 60, "card_stolen", texts, "c3"),
                window_cluster(4, [5, 6], 120, "card_payments", texts, "c4"),
                window_cluster(5, [7], 80, "fraud_scam", texts, None)]

    def category(cid, name, status, cluster_ids, before, after, **extra):
        return {"id": cid, "name": name, "status": status, "clusters": cluster_ids, "merged_with": [],
                "moved": 0.04, "share_before": before, "share_after": after,
                "size_after": round(after * 700), "sizes_by_date": {}, "evidence": {"overlap": 0.9}, **extra}

    if hostile:
        clusters[5].update(name=PWNING_PAYLOADS[0], top_terms=[PWNING_PAYLOADS[1], IMG_CATEGORY],
                           representative=[{"id": f"h{i}", "text": text} for i, text in enumerate(HOSTILE)])
    return {
        "schema": "tweetops.evolution.proposal/1", "proposal_id": "prop-0123456789abcdef",
        "base_map": {"version": 3, "hash": "1a2b3c4d5e6f" + "0" * 52, "clustering_run": "run-aaaa"},
        "model": {"model_package_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/tweetops/4",
                  "model_version": "4", "featurizer_sha256": "ab" * 32},
        "window": {"days": 28, "from": "2026-11-01", "to": "2026-11-03", "messages": 700, "novel": 61,
                   "dates": {"2026-11-01": 170, "2026-11-02": 170, "2026-11-03": 360}},
        "clustering_run": "run-fedcba9876543210", "n_fine_clusters": 8,
        "selection": {"chosen": "plain", "k_silhouettes": {"4": 0.31, "8": 0.42, "12": 0.36}, "fit_rows": 700,
                      "candidates": {"plain": {"k": 8, "score": 1.8}}},
        "hierarchy": {"method": "size-weighted Ward linkage on fine-cluster centroids", "chosen": 6,
                      "scores": {"4": 0.3, "6": 0.4, "7": 0.35}, "leaves": list(range(8)),
                      "linkage": [[0, 1, 1.5, 2]], "why": "the cut whose grouped partition has the best silhouette"},
        "thresholds": {"neighbours": 10, "distinct_similarity_used": 0.62},
        "fine_clusters": [{"cluster": f, "group": g, "size": 50, "assigned": {"c1": 40, "c2": 10}}
                          for g, c in enumerate(clusters) for f in c["fine_clusters"]],
        "clusters": clusters,
        "categories": [category("c1", "billing", "kept", [0], 0.3, 0.29),
                       category("c2", PWNING_PAYLOADS[3] if hostile else "delivery", "kept", [1], 0.2, 0.21),
                       category("c3", "card_problems", "split", [2, 3], 0.2, 0.21),
                       category("c4", "card_payment", "merged", [4], 0.1, 0.1, merged_with=["c5"]),
                       category("c5", "card_charges", "merged", [4], 0.08, 0.07, merged_with=["c4"]),
                       category("c6", "app_login", "gone", [], 0.12, 0.0)],
        "changes": [{"change": "new:5", "kind": "new", "cluster": 5,
                     "name": PWNING_PAYLOADS[4] if hostile else "fraud_scam",
                     "evidence": {"best_similarity": 0.31, "novel_share": 0.6, "assigned": {"c1": 50, "c2": 30}}},
                    {"change": "split:c3", "kind": "split", "category": "c3", "clusters": [2, 3],
                     "evidence": {"parts_similarity": 0.55}},
                    {"change": "merge:c4+c5", "kind": "merge", "categories": ["c4", "c5"], "cluster": 4,
                     "evidence": {"overlap": {"c4": 0.55, "c5": 0.45}}},
                    {"change": "gone:c6", "kind": "gone", "category": "c6", "evidence": {"size_after": 0}}],
        "map_points": map_points(300, 6, "cluster"),
    }


def section(html: str, ident: str) -> str:
    """The text of one <section id=...> of the page."""
    start = html.index(f'<section id="{ident}"')
    return html[start:html.index("</section>", start)]


def text_of(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped (block ones as a space), entities decoded, white space
    folded."""
    inline = re.sub(r"</?(?:bdi|code|span|a|b)\b[^>]*>", "", fragment)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def decisions_yaml(html: str) -> dict:
    """The "how to decide" box's file, as the analyst would save and tweetops would read it."""
    box = section(html, "decide")
    return yaml.safe_load(html_lib.unescape(re.search(r"<pre>(.*?)</pre>", box, re.S).group(1)))


# ------------------------------------------------------------------------------------------------ discovery


def test_the_discovery_overview_says_how_many_categories_and_how_k_and_the_cut_were_chosen():
    html = discovery_report_html(discovery_doc())
    overview = text_of(section(html, "overview"))
    assert "6 fine clusters · 3 proposed categories" in text_of(html)
    for text in ("space umap", "k 6, chosen by silhouette among k = 4-30", "fitted on 2,990 messages",
                 "silhouette 0.0812", "average linkage of fine-cluster centroids", "chosen 3",
                 "the cut with the highest silhouette of the grouped messages", "candidate space plain"):
        assert text in overview, text
    assert "linkage" not in overview.replace("average linkage", "")  # the raw linkage rows are not listed
    images = [attrs["alt"] for attrs in Tags(html).named("img")]
    assert images == ["silhouette per candidate number of fine clusters",
                      "score per candidate number of categories, the chosen cut marked",
                      "the messages on a 2-D map, coloured and numbered by proposed category"]


def test_each_proposed_category_has_a_section_with_name_size_fine_clusters_terms_in_each_language_and_messages():
    html = discovery_report_html(discovery_doc())
    sections = re.findall(r'<details class="category" id="category-(\d+)" open>(.*?)</details>', html, re.S)
    assert [number for number, _ in sections] == ["0", "1", "2"]
    second = text_of(sections[1][1])
    for text in ("1 tarjeta_cobro_1 · 85 messages (", "2 fine clusters", "top terms tarjeta, cobro, word1",
                 "terms (es) tarjeta, cobro terms (en) card, charged", "Representative messages", "m-1-0",
                 "Borderline messages", "b-1", "0.0123", "2 42 term2, tarjeta", "3 43 term3, tarjeta"):
        assert text in second, text


def test_a_clusters_json_without_categories_map_or_hierarchy_shows_each_fine_cluster_as_a_category():
    doc = discovery_doc()
    for key in ("categories", "hierarchy", "map_points"):
        del doc[key]
    doc["selection"]["k_silhouettes"] = {}
    html = discovery_report_html(doc)
    assert "proposes no categories: each fine cluster is shown as its own category" in html
    assert len(re.findall(r'<details class="category"', html)) == 6
    for text in ("No hierarchy recorded.", "No map recorded.", "No score per cut recorded.",
                 "No k search recorded (k was given)."):
        assert text in html, text
    assert not Tags(html).named("img")


def test_a_hundred_categories_are_listed_in_one_table_and_their_sections_start_closed():
    html = discovery_report_html(discovery_doc(n_categories=100))
    links = [attrs["href"] for attrs in Tags(html).named("a")]
    assert links == [f"#category-{g}" for g in range(100)]
    assert len(re.findall(r'<details class="category" id="category-\d+">', html)) == 100  # none open
    assert len(html) < 1_500_000


def test_the_map_is_refused_when_its_columns_differ_in_length():
    doc = discovery_doc()
    doc["map_points"]["category"] = doc["map_points"]["category"][:-1]
    with pytest.raises(ReportError, match=r"^map_points has 300 x, 300 y and 299 category values$"):
        discovery_report_html(doc)


def test_something_that_is_not_a_clusters_json_is_refused_in_one_line():
    with pytest.raises(ReportError, match=r'^not a clusters.json: no "clusters" list \(found'):
        discovery_report_html({"categories": []})
    with pytest.raises(ReportError, match=r"wrong type"):
        discovery_report_html({"clusters": [{"cluster": "seven"}]})


# ------------------------------------------------------------------------------------------------ evolution


def test_the_proposal_overview_names_the_window_the_base_map_and_counts_each_kind_of_change():
    html = proposal_report_html(proposal_doc())
    head = text_of(html[:html.index('<section id="map"')])
    for text in ("Evolution proposal prop-0123456789abcdef", "category map version 3 (hash 1a2b3c4d5e6f,",
                 "28 days, 2026-11-01 to 2026-11-03", "700, of which 61 flagged novel",
                 "6 window clusters from 8 fine clusters", "model_version 4",
                 "2 kept 1 split 2 merged 1 gone 1 new", "How the window was clustered", "k 8, chosen by silhouette",
                 "grouped into window clusters chosen 6", "the cut whose grouped partition has the best silhouette",
                 "Matching thresholds distinct_similarity_used 0.62 neighbours 10"):
        assert text in head, text
    assert "leaves" not in head and "linkage [" not in head
    assert [attrs["alt"] for attrs in Tags(html).named("img")] == [
        "silhouette per candidate number of fine clusters",
        "score per candidate number of window clusters, the chosen cut marked",
        "the window's messages on a 2-D map, coloured and numbered by window cluster",
        "each window cluster's share of each day's messages"]


def test_each_change_has_a_section_with_its_clusters_categories_evidence_and_decision_line():
    html = proposal_report_html(proposal_doc())
    changes = [text_of(body) for body in re.findall(r'<details class="change" id="change-\d" open>(.*?)</details>',
                                                    section(html, "changes"), re.S)]
    assert len(changes) == 4
    new, split, merge, gone = changes
    for text in ('New category candidate new:5 window cluster 5 fraud_scam · 80 messages (11.4%)',
                 '- {change: "new:5", action: accept, name: "fraud_scam", reason: ""}', "best_similarity 0.31",
                 "assigned.c1 50", "flagged novel 60.0%", "2026-11-01: 20 · 2026-11-02: 20 · 2026-11-03: 40",
                 "Best match among the current categories", "similarity 0.31", "terms (es) tarjeta", "w5-0"):
        assert text in new, text
    for text in ("Split split:c3 c3 card_problems into window clusters 2, 3",
                 '- {change: "split:c3", action: accept, names: {2: "card_problems", 3: "card_stolen"}}',
                 "Window cluster 2 card_lost", "Window cluster 3 card_stolen", "parts_similarity 0.55"):
        assert text in split, text
    for text in ("Merge merge:c4+c5 c4 card_payment + c5 card_charges into window cluster 4",
                 '- {change: "merge:c4+c5", action: accept, name: "card_payment"}', "overlap.c4 0.55",
                 "c4 card_payment merged 10.0% 10.0% 0.04 4"):
        assert text in merge, text
    for text in ("Gone gone:c6 c6 app_login has no window cluster", '- {change: "gone:c6", action: accept}',
                 "c6 app_login gone 12.0% 0.0%"):
        assert text in gone, text


def test_evidence_that_a_change_shares_with_its_cluster_or_category_is_shown_once():
    proposal = proposal_doc()
    proposal["changes"][0]["evidence"] = proposal["clusters"][5]["match"]
    proposal["changes"][3]["evidence"] = proposal["categories"][5]["evidence"] = {"window_messages": 40}
    changes = section(proposal_report_html(proposal), "changes")
    new_candidate = changes.split('id="change-2"')[0]
    assert "Best match among the current categories" not in new_candidate
    assert text_of(new_candidate).count("similarity 0.31") == 1
    assert "Best match among the current categories" in changes  # the split's clusters match c3: not the evidence
    assert text_of(changes).count("window_messages 40") == 1 and "Evidence for c6" not in text_of(changes)
    assert "Evidence for c3" in text_of(changes)  # the split's category evidence differs from the change's


def test_a_change_naming_a_category_the_proposal_does_not_describe_says_so():
    proposal = proposal_doc()
    proposal["changes"][3]["category"] = "c99"
    gone = text_of(section(proposal_report_html(proposal), "changes").split('id="change-4"')[1])
    assert "c99 (unnamed) not in the proposal's categories" in gone


def test_the_kept_categories_are_one_table_with_how_far_they_moved_and_their_shares():
    kept = text_of(section(proposal_report_html(proposal_doc()), "kept"))
    assert "Kept categories (2)" in kept
    assert "c1 billing 0 0.04 30.0% 29.0% 203" in kept and "c2 delivery 1 0.04 20.0% 21.0% 147" in kept
    assert "c3 card_problems" not in kept.split("Fine clusters of the window")[0]


def test_the_how_to_decide_box_is_a_decisions_file_that_accepts_every_change_in_the_spec_format():
    decisions = decisions_yaml(proposal_report_html(proposal_doc()))
    assert decisions == {"proposal": "prop-0123456789abcdef", "reviewer": "your-name", "decisions": [
        {"change": "new:5", "action": "accept", "name": "fraud_scam", "reason": ""},
        {"change": "split:c3", "action": "accept", "names": {2: "card_problems", 3: "card_stolen"}},
        {"change": "merge:c4+c5", "action": "accept", "name": "card_payment"},
        {"change": "gone:c6", "action": "accept"}]}


def test_a_hostile_name_in_the_decisions_file_stays_one_quoted_value_and_adds_no_decision():
    proposal = proposal_doc()
    proposal["changes"][0]["name"] = 'x"}\n  - {change: "gone:c1", action: accept}\n  # \u202e'
    decisions = decisions_yaml(proposal_report_html(proposal))
    assert len(decisions["decisions"]) == 4
    assert decisions["decisions"][0]["name"] == proposal["changes"][0]["name"]


def test_a_proposal_without_map_dates_fine_clusters_or_model_still_renders_and_says_what_is_missing():
    proposal = proposal_doc()
    for key in ("map_points", "fine_clusters", "model", "window", "selection", "hierarchy", "thresholds"):
        del proposal[key]
    for cluster in proposal["clusters"]:
        del cluster["sizes_by_date"], cluster["match"], cluster["top_terms_by_language"]
    html = proposal_report_html(proposal)
    assert "No map recorded." in html and "No sizes by date recorded." in html
    assert "Fine clusters of the window" not in html and not Tags(html).named("img")
    assert "700, of which — flagged novel" in text_of(section(html, "overview"))


def test_a_proposal_without_changes_says_every_category_is_kept():
    proposal = proposal_doc()
    proposal["changes"] = []
    html = proposal_report_html(proposal)
    assert "No change proposed: every current category is kept." in html
    assert decisions_yaml(html)["decisions"] is None


def test_something_that_is_not_a_proposal_is_refused_in_one_line():
    with pytest.raises(ReportError, match=r"^not a tweetops.evolution.proposal/1 proposal \(schema: other/1\)$"):
        proposal_report_html({"schema": "other/1"})
    proposal = proposal_doc()
    del proposal["proposal_id"]
    with pytest.raises(ReportError, match=r'^the proposal lacks "proposal_id"$'):
        proposal_report_html(proposal)
    proposal = proposal_doc()
    proposal["changes"][0]["kind"] = "teleport\n"
    with pytest.raises(ReportError, match=r"^change new:5 has an unknown kind teleport\\n$"):
        proposal_report_html(proposal)


def test_write_review_report_chooses_the_page_by_the_documents_shape(tmp_path):
    proposal_page = write_review_report(proposal_doc(), tmp_path / "evolution" / "report.html")
    discovery_page = write_review_report(discovery_doc(), tmp_path / "report.html")
    assert "<h1>Evolution proposal" in proposal_page.read_text(encoding="utf-8")
    assert "<h1>Discovery review" in discovery_page.read_text(encoding="utf-8")
    with pytest.raises(ReportError):
        write_review_report({"schema": "tweetops.monitoring.report/1"}, tmp_path / "other.html")
    assert not (tmp_path / "other.html").exists()


# ------------------------------------------------------------------------------------------------ both pages


@pytest.mark.parametrize("page", ["discovery", "proposal"])
def test_the_page_requests_nothing_and_its_charts_are_reproducible_inline_pngs(page):
    make = (lambda: discovery_report_html(discovery_doc())) if page == "discovery" else \
        (lambda: proposal_report_html(proposal_doc()))
    html = make()
    tags = Tags(html)
    assert tags.named("meta")[1]["content"] == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    for name in ("script", "link", "iframe", "object", "embed", "base", "form"):
        assert not tags.named(name), name
    urls = [value for _, attrs in tags.tags for key, value in attrs.items() if key in ("src", "href")]
    assert urls and all(url.startswith(("data:image/png;base64,", "#")) for url in urls)
    for uri in (attrs["src"] for attrs in tags.named("img")):
        png = base64.b64decode(uri.split(",", 1)[1])
        assert png.startswith(PNG_SIGNATURE) and b"Software" not in png
    assert "url(" not in html and "@import" not in html
    assert make() == html  # same document, byte-identical page


@pytest.mark.parametrize("page", ["discovery", "proposal"])
def test_every_hostile_text_is_shown_as_text_never_as_markup(page):
    html = discovery_report_html(discovery_doc(hostile=True)) if page == "discovery" else \
        proposal_report_html(proposal_doc(hostile=True))
    tags = Tags(html)
    assert not tags.named("script") and not tags.named("svg") and not tags.named("iframe")
    assert all(attrs["src"].startswith("data:image/png;base64,") for attrs in tags.named("img"))
    assert all(attrs["href"].startswith("#") for attrs in tags.named("a"))
    assert not any(key.startswith("on") for _, attrs in tags.tags for key in attrs)
    visible = text_of(html)
    for payload in HOSTILE:
        assert payload in visible, payload
    assert "{{ 7 * 7 }}" in html and "49" not in visible


def test_control_and_bidirectional_characters_in_a_message_are_shown_as_escapes():
    doc = discovery_doc()
    doc["categories"][0]["representative"][0]["text"] = "pay\u202egnp.exe\x1b[2J done"
    html = discovery_report_html(doc)
    assert "pay\\u202egnp.exe\\x1b[2J done" in html and "\u202e" not in html and "\x1b" not in html


# ------------------------------------------------------------------------------------------------ in a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n')
needs_chromium = pytest.mark.skipif(  # CI installs chromium (.ci/run): there the tests must run, never skip
    CHROMIUM is None and not os.environ.get("CI"), reason="no chromium binary (apt-get install chromium)")


def browser(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium on a page file (a fresh profile, no network needed)."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--user-data-dir=" + str(tmp_path / "profile"), *args, page.as_uri()],
                          capture_output=True, text=True, timeout=60)


def browser_dom(tmp_path: Path, html: str, name: str, screenshot_height: int | None = None) -> str:
    """The page's DOM after the browser loaded it and ran whatever scripts it would run; with a height, the same
    run also writes a PNG of the page's top at 1280 wide (screenshot_path)."""
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = [f"--screenshot={screenshot_path(tmp_path, name)}", f"--window-size=1280,{screenshot_height}"] \
        if screenshot_height else []
    result = browser(tmp_path, page, "--dump-dom", *shot)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a page's screenshot goes: TWEETOPS_SCREENSHOT_DIR when set (to keep it), else the test's folder."""
    folder = Path(SCREENSHOT_DIR or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def assert_ran_nothing(dom: str) -> None:
    """No payload became an element or ran: the title is the page's own and only our charts are images."""
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    tags = Tags(dom)
    assert not tags.named("script") and not tags.named("svg") and not tags.named("iframe")
    assert all(attrs["src"].startswith("data:image/png;base64,") for attrs in tags.named("img"))
    assert not any(key.startswith("on") for _, attrs in tags.tags for key in attrs)


@needs_chromium
def test_the_browser_check_catches_a_payload_that_runs(tmp_path):
    # The same payload, unescaped on a page without the policy: the browser runs it and the check sees it.
    dom = browser_dom(tmp_path, f"<html><head><title>t</title></head><body>{PWNING_PAYLOADS[0]}</body></html>",
                      "control")
    with pytest.raises(AssertionError):
        assert_ran_nothing(dom)


@needs_chromium
@pytest.mark.parametrize("page", ["discovery", "proposal"])
def test_in_a_real_browser_the_sections_are_there_and_no_hostile_text_runs_even_without_the_policy(page, tmp_path):
    html = discovery_report_html(discovery_doc(hostile=True)) if page == "discovery" else \
        proposal_report_html(proposal_doc(hostile=True))
    sections = ("overview", "map", "categories") if page == "discovery" else \
        ("overview", "map", "timeline", "changes", "kept", "decide")
    # Without the page's script-blocking policy, so that only the escaping stands between a payload and the DOM.
    unguarded = CSP_META.sub("", html, count=1)
    assert unguarded != html
    dom = browser_dom(tmp_path, unguarded, f"review-{page}-hostile", screenshot_height=1600)
    assert_ran_nothing(dom)
    for ident in sections:
        assert f'<section id="{ident}"' in dom, ident
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    shot = screenshot_path(tmp_path, f"review-{page}-hostile")
    assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > 10_000


def write_docs_screenshots(folder: Path, scratch: Path) -> list[Path]:
    """The pages of the hand-made documents as docs/images shows them (made by hand, not by the suite)."""
    global SCREENSHOT_DIR
    SCREENSHOT_DIR = str(folder)
    pages = {"review-discovery": discovery_report_html(discovery_doc(n_categories=8)),
             "review-proposal": proposal_report_html(proposal_doc())}
    for name, html in pages.items():
        browser_dom(scratch, html, name, screenshot_height=2400)
    return [screenshot_path(scratch, name) for name in pages]
