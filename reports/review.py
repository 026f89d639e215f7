"""The review page an analyst reads: the proposed categories of a discovery run, or an evolution proposal.

One self-contained HTML page (report.html) beside clusters.json or proposal.json. Discovery: how k and the cut of
the cluster hierarchy were chosen, a 2-D map of the messages, then one collapsible section per proposed category
(terms in each language, representative and borderline messages). Evolution: the window and the base map, the
counts of kept, split, merged, gone and new, a map, the sizes over time, one section per change with its evidence,
the kept categories in one table, and the decisions-file lines that accept or reject each change (docs/evolution.md).
Pages stay readable with a hundred categories: sections are <details>, nothing needs a script.

Names, terms, ids and message texts are hostile: they reach the page only through the autoescaping templates of
`reports`, and charts label points with numbers only (no input text is drawn). Optional keys (a map, a hierarchy,
dates) may be missing: the page then says so instead of failing.
"""
from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path

import jinja2
import numpy as np
from matplotlib.figure import Figure

from processing.sanitize import shown_value
from processing.storage import write_text_atomic
from reports import ReportError, png_data_uri, render

PROPOSAL_SCHEMA = "tweetops.evolution.proposal/1"
TEMPLATE = "review.html.j2"
OPEN_SECTIONS = 12  # with at most this many categories or changes, their sections start open
MAP_LABELS = 40  # the map numbers the largest categories at their median point
TIMELINE_ROWS = 100
CHART_LABEL_CHARS = 28
STATUSES = ("kept", "split", "merged", "gone", "absorbed")
CHANGE_KINDS = ("new", "split", "merge", "gone", "absorbed")
LANGUAGE_ORDER = ("es", "en")
EVIDENCE_ITEMS = 24
HIERARCHY_ARRAYS = ("linkage", "leaves", "scores", "cuts", "candidates")  # drawn or too long to list
DECISIONS_COMMAND = "tweetops review proposal.json --decisions decisions.yaml"


def write_review_report(doc: dict, path: str | Path) -> Path:
    """Write the review page of `doc` (a proposal.json by its schema, else a clusters.json) atomically to `path`."""
    html = proposal_report_html(doc) if isinstance(doc, dict) and "schema" in doc else discovery_report_html(doc)
    return write_text_atomic(path, html)


def discovery_report_html(clusters_doc: dict) -> str:
    """The page for a discovery run's clusters.json: overview, map, one section per proposed category."""
    if not isinstance(clusters_doc, dict) or not isinstance(clusters_doc.get("clusters"), list):
        found = sorted(clusters_doc)[:5] if isinstance(clusters_doc, dict) else type(clusters_doc).__name__
        raise ReportError(f'not a clusters.json: no "clusters" list (found {shown_value(found, 80)})')
    return _guarded(_discovery_context, clusters_doc)


def proposal_report_html(proposal: dict) -> str:
    """The page for an evolution proposal.json: overview, map, sizes over time, changes, kept, how to decide."""
    if not isinstance(proposal, dict) or proposal.get("schema") != PROPOSAL_SCHEMA:
        found = proposal.get("schema") if isinstance(proposal, dict) else type(proposal).__name__
        raise ReportError(f"not a {PROPOSAL_SCHEMA} proposal (schema: {shown_value(found)})")
    for key in ("proposal_id", "base_map"):
        if not proposal.get(key):
            raise ReportError(f'the proposal lacks "{key}"')
    return _guarded(_proposal_context, proposal)


def _guarded(make_context, doc: dict) -> str:
    """Render the page from make_context(doc); a document of the wrong shape becomes one ReportError line."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
            return render(TEMPLATE, **make_context(doc))
    except ReportError:
        raise
    except jinja2.UndefinedError as error:
        raise ReportError(f"the document lacks a figure the page shows: {error}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise ReportError(f"a figure of the document has the wrong type: {shown_value(error, 120)}") from None


# --------------------------------------------------------------------------------------------------- discovery


def _discovery_context(doc: dict) -> dict:
    fine = {int(c["cluster"]): c for c in doc["clusters"]}
    total = sum(int(c.get("size") or 0) for c in fine.values())
    proposed = doc.get("categories")
    groups = proposed if proposed else [_cluster_as_category(c) for c in fine.values()]
    categories = [category_view(group, fine, total) for group in groups]
    return {
        "kind": "discovery", "title": "Discovery review", "run": doc.get("clustering_run"),
        "total": total, "n_fine": int(doc.get("n_clusters") or len(fine)), "categories": categories,
        "grouped": bool(proposed), "open_sections": len(categories) <= OPEN_SECTIONS,
        "clustering": clustering_view(doc, len(categories)),
        "charts": {"map": _uri(map_figure(doc.get("map_points"), "category"))},
    }


def clustering_view(doc: dict, n_categories: int) -> dict:
    """How the fine clusters were made (space, k, quality) and grouped (the hierarchy's cut), with their charts."""
    selection, hierarchy = doc.get("selection") or {}, doc.get("hierarchy") or {}
    return {"selection": selection_view(selection), "quality": doc.get("quality") or {},
            "hierarchy": evidence_items(hierarchy, skip=HIERARCHY_ARRAYS),
            "thresholds": evidence_items(doc.get("thresholds") or {}),
            "k_chart": _uri(k_figure(selection.get("k_silhouettes") or {})),
            "cut_chart": _uri(cut_figure(cut_scores(hierarchy), _chosen_cut(hierarchy, n_categories)))}


def _cluster_as_category(cluster: dict) -> dict:
    """A fine cluster standing as its own category (a clusters.json written before categories were proposed)."""
    return {**cluster, "category": cluster["cluster"], "clusters": [cluster["cluster"]], "name": None}


def category_view(group: dict, fine: dict[int, dict], total: int) -> dict:
    """What a proposed category's section shows: name, size and share, its fine clusters, terms, messages."""
    size = int(group.get("size") or 0)
    return {
        "number": int(group["category"]), "name": group.get("name"), "size": size,
        "share": size / total if total else None,
        "clusters": [{"cluster": int(c), "size": (fine.get(int(c)) or {}).get("size"),
                      "top_terms": (fine.get(int(c)) or {}).get("top_terms") or []}
                     for c in group.get("clusters") or []],
        **message_view(group),
    }


def message_view(summary: dict) -> dict:
    """The terms (all and per language) and the representative and borderline messages of a cluster summary."""
    by_language = summary.get("top_terms_by_language") or {}
    order = sorted(by_language, key=lambda lang: (LANGUAGE_ORDER.index(lang) if lang in LANGUAGE_ORDER else 9, lang))
    return {"top_terms": list(summary.get("top_terms") or []),
            "terms_by_language": [(lang, list(by_language[lang] or [])) for lang in order],
            "representative": list(summary.get("representative") or []),
            "borderline": list(summary.get("borderline") or [])}


def selection_view(selection: dict) -> dict:
    """How k and the clustering space were chosen, as the overview states it."""
    scores = selection.get("k_silhouettes") or {}
    chosen = selection.get("chosen")
    k = ((selection.get("candidates") or {}).get(chosen) or {}).get("k") if chosen else None
    return {"space": chosen, "k": k, "searched": f"{min(map(int, scores))}-{max(map(int, scores))}" if scores else None,
            "at_upper_bound": bool(selection.get("k_at_upper_bound")), "fit_rows": selection.get("fit_rows"),
            "umap_skipped": selection.get("umap_skipped"),
            "candidates": [(name, evidence_items(evidence)) for name, evidence in
                           sorted((selection.get("candidates") or {}).items())]}


def cut_scores(hierarchy: dict) -> list[tuple[int, float]]:
    """(number of categories, score) per candidate cut of the hierarchy, from {n: score} or [{n_groups, score}]."""
    raw = next((hierarchy[key] for key in ("scores", "cuts", "candidates") if hierarchy.get(key)), None)
    if isinstance(raw, dict):
        pairs = [(int(n), value.get("score") if isinstance(value, dict) else value) for n, value in raw.items()]
    elif isinstance(raw, list):
        pairs = [(int(row.get("n_groups", row.get("groups"))), row.get("score")) for row in raw
                 if isinstance(row, dict) and row.get("n_groups", row.get("groups")) is not None]
    else:
        pairs = []
    return sorted((n, float(score)) for n, score in pairs if isinstance(score, (int, float)) and math.isfinite(score))


def _chosen_cut(hierarchy: dict, n_categories: int) -> int | None:
    chosen = hierarchy.get("chosen", hierarchy.get("n_groups"))
    if isinstance(chosen, dict):
        chosen = chosen.get("n_groups")
    return int(chosen) if isinstance(chosen, (int, float)) else (n_categories or None)


# --------------------------------------------------------------------------------------------------- evolution


def _proposal_context(proposal: dict) -> dict:
    clusters = {int(c["cluster"]): c for c in proposal.get("clusters") or []}
    categories = {str(c["id"]): c for c in proposal.get("categories") or []}
    window = proposal.get("window") or {}
    total = sum(int(c.get("size") or 0) for c in clusters.values()) or window.get("messages") or 0
    changes = [change_view(change, clusters, categories, total) for change in proposal.get("changes") or []]
    counts = Counter(c.get("status") for c in categories.values())
    counts.update(change["kind"] for change in changes if change["kind"] == "new")
    kept = [category_row(c) for c in categories.values() if c.get("status") == "kept"]
    base = proposal["base_map"]
    return {
        "kind": "evolution", "title": "Evolution proposal", "proposal_id": proposal["proposal_id"],
        "base": {"version": base.get("version"), "hash": str(base.get("hash") or "")[:12],
                 "clustering_run": base.get("clustering_run")},
        "run": proposal.get("clustering_run"), "model": evidence_items(proposal.get("model") or {}),
        "window": window, "total": total, "n_fine": proposal.get("n_fine_clusters"), "n_clusters": len(clusters),
        "clustering": clustering_view(proposal, len(clusters)),
        # "absorbed" (a category with no window cluster of its own) is rare: counted only when it happens.
        "counts": [(kind, counts.get(kind, 0)) for kind in (*STATUSES, "new") if kind != "absorbed" or counts[kind]],
        "changes": changes, "kept": kept, "open_sections": len(changes) <= OPEN_SECTIONS,
        "decisions": decisions_file(proposal["proposal_id"], changes),
        "decision_lines": [decision_line(change) for change in changes], "command": DECISIONS_COMMAND,
        "fine_clusters": proposal.get("fine_clusters") or [],
        "charts": {"map": _uri(map_figure(proposal.get("map_points"), "cluster")),
                   "timeline": _uri(timeline_figure(clusters, window.get("dates") or {}))},
    }


def change_view(change: dict, clusters: dict[int, dict], categories: dict[str, dict], total: int) -> dict:
    """One change of the proposal: its kind and id, the categories and window clusters it involves, its evidence."""
    kind = str(change.get("kind") or str(change["change"]).split(":", 1)[0])
    if kind not in CHANGE_KINDS:
        raise ReportError(f"change {shown_value(change.get('change'))} has an unknown kind {shown_value(kind)}")
    involved = {"new": [change.get("cluster")], "split": change.get("clusters") or [],
                "merge": [change.get("cluster")], "absorbed": change.get("clusters") or []}.get(kind, [])
    category_ids = change.get("categories") or ([change["category"]] if change.get("category") else [])
    evidence = change.get("evidence") or {}
    present = [int(c) for c in involved if c is not None and int(c) in clusters]
    # A new candidate's evidence is usually its cluster's match: shown once, as the change's evidence.
    views = [cluster_view(clusters[c], total, show_match=clusters[c].get("match") != evidence) for c in present]
    return {"change": str(change["change"]), "kind": kind, "name": change.get("name"), "clusters": views,
            "categories": [category_row(categories[i], shown_evidence=categories[i].get("evidence") != evidence)
                           if i in categories else {"id": i, "name": None, "missing": True, "evidence": []}
                           for i in map(str, category_ids)],
            "evidence": evidence_items(evidence)}


def cluster_view(cluster: dict, total: int, show_match: bool = True) -> dict:
    """A window cluster as a change shows it: size, share, novelty, match, sizes by date, terms and messages."""
    size = int(cluster.get("size") or 0)
    return {"number": int(cluster["cluster"]), "name": cluster.get("name"), "size": size,
            "share": size / total if total else None, "novel_share": cluster.get("novel_share"),
            "fine_clusters": list(cluster.get("fine_clusters") or []),
            "sizes_by_date": sorted((cluster.get("sizes_by_date") or {}).items()),
            "match": evidence_items(cluster.get("match") or {}) if show_match else [], **message_view(cluster)}


def category_row(category: dict, shown_evidence: bool = True) -> dict:
    """A current category as the proposal measured it: status, window clusters, movement, shares before and after."""
    return {"id": str(category["id"]), "name": category.get("name"), "status": category.get("status"),
            "clusters": [int(c) for c in category.get("clusters") or []],
            "merged_with": list(category.get("merged_with") or []), "moved": category.get("moved"),
            "share_before": category.get("share_before"), "share_after": category.get("share_after"),
            "size_after": category.get("size_after"),
            "evidence": evidence_items(category.get("evidence") or {}) if shown_evidence else [],
            "missing": False}


def decisions_file(proposal_id: str, changes: list[dict]) -> str:
    """A decisions file (YAML) that accepts every change, with the alternatives as comments: the analyst edits it.

    Names and ids come from the proposal, so each is written as a quoted scalar (JSON strings are YAML): a name
    cannot add keys or decisions to the file.
    """
    lines = [f"proposal: {_quoted(proposal_id)}", "reviewer: your-name", "decisions:"]
    for change in changes:
        lines.append("  " + decision_line(change))
    lines += ["  # beyond the proposal (category ids as in the base map, cluster numbers as on this page):",
              '  # - {action: rename, category: c2, name: new_name, reason: "..."}',
              '  # - {action: merge, categories: [c6, c7], name: merged_name, reason: "..."}',
              '  # - {action: split, category: c1, clusters: {0: name_a, 9: name_b}, reason: "..."}',
              '  # - {action: discard, cluster: 11, reason: "spam"}']
    return "\n".join(lines) + "\n"


def decision_line(change: dict) -> str:
    """The decisions-file line that accepts one change, its alternatives in a trailing comment."""
    ident = _quoted(change["change"])
    if change["kind"] == "new":
        name = change["name"] or (change["clusters"][0]["name"] if change["clusters"] else None) or "new_category"
        return (f'- {{change: {ident}, action: accept, name: {_quoted(name)}, reason: ""}}'
                "  # or reject (to the categories its messages were assigned) or discard")
    if change["kind"] == "split":
        parts = sorted(change["clusters"], key=lambda c: -c["size"])
        current = change["categories"][0]["name"] if change["categories"] else None
        names = [current or part["name"] if index == 0 else part["name"] for index, part in enumerate(parts)]
        listed = ", ".join(f"{part['number']}: {_quoted(name or 'part_' + str(part['number']))}"
                           for part, name in zip(parts, names))
        return f"- {{change: {ident}, action: accept, names: {{{listed}}}}}  # the largest part keeps the id; or reject"
    if change["kind"] == "merge":
        rows = sorted(change["categories"], key=lambda c: -(c.get("share_before") or 0))
        name = next((row["name"] for row in rows if row.get("name")), None) or change["name"] or "merged_category"
        return f"- {{change: {ident}, action: accept, name: {_quoted(name)}}}  # the larger keeps its id; or reject"
    if change["kind"] == "absorbed":
        return (f"- {{change: {ident}, action: accept}}  # retired into the category holding most of its messages; "
                "rejecting needs clusters of its own (from rejected candidates) or a wider window")
    return f"- {{change: {ident}, action: accept}}  # retired; rejecting needs a wider window"


def _quoted(value) -> str:
    """A YAML double-quoted scalar of `value` (JSON string syntax, which YAML reads the same)."""
    return json.dumps(str(value), ensure_ascii=False)


def evidence_items(evidence: dict, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """A JSON object's figures as (key, shown value) rows; nested objects one level deep as "outer.inner"."""
    rows = []
    for key, value in sorted(evidence.items()):
        if key in skip:
            continue
        if isinstance(value, dict):
            rows += [(f"{key}.{inner}", _shown(item)) for inner, item in sorted(value.items())]
        else:
            rows.append((str(key), _shown(value)))
    more = [("…", f"{len(rows) - EVIDENCE_ITEMS} more")] if len(rows) > EVIDENCE_ITEMS else []
    return rows[:EVIDENCE_ITEMS] + more


def _shown(value) -> str:
    """A value of an evidence object as text: numbers to 3 significant digits, lists and objects as short JSON."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


# --------------------------------------------------------------------------------------------------- charts


def _uri(figure: Figure | None) -> str | None:
    return png_data_uri(figure) if figure is not None else None


def k_figure(silhouettes: dict) -> Figure | None:
    """Silhouette per candidate k (the fine clusters)."""
    points = sorted((int(k), float(score)) for k, score in silhouettes.items() if score is not None)
    if not points:
        return None
    figure = Figure(figsize=(7, 2.6), layout="constrained")
    axes = figure.subplots()
    axes.plot([k for k, _ in points], [score for _, score in points], marker=".", color="#2f6db5")
    axes.set_xlabel("number of fine clusters k")
    axes.set_ylabel("silhouette")
    return figure


def cut_figure(scores: list[tuple[int, float]], chosen: int | None) -> Figure | None:
    """Score per candidate cut of the cluster hierarchy, the chosen cut marked."""
    if not scores:
        return None
    figure = Figure(figsize=(7, 2.6), layout="constrained")
    axes = figure.subplots()
    axes.plot([n for n, _ in scores], [score for _, score in scores], marker=".", color="#2f6db5")
    if chosen is not None:
        axes.axvline(chosen, color="#c8423b", linestyle="--", linewidth=1)
    axes.set_xlabel("number of categories (red: the chosen cut)")
    axes.set_ylabel("score")
    return figure


def map_figure(points: dict | None, key: str) -> Figure | None:
    """The messages on a 2-D map, coloured by category (or window cluster), the largest numbered at their median."""
    if not points or not points.get("x"):
        return None
    x, y = np.asarray(points["x"], dtype=float), np.asarray(points["y"], dtype=float)
    labels = np.asarray(points.get(key) or [], dtype=int)
    if not len(x) == len(y) == len(labels):
        raise ReportError(f"map_points has {len(x)} x, {len(y)} y and {len(labels)} {key} values")
    colours = _palette()
    figure = Figure(figsize=(9, 6.5), layout="constrained")
    axes = figure.subplots()
    axes.scatter(x, y, s=6, c=[colours[label % len(colours)] for label in labels], linewidths=0, alpha=0.8)
    numbers, sizes = np.unique(labels, return_counts=True)
    for label in numbers[np.argsort(-sizes, kind="stable")][:MAP_LABELS]:
        members = labels == label
        axes.annotate(str(int(label)), (float(np.median(x[members])), float(np.median(y[members]))),
                      fontsize=9, fontweight="bold", ha="center", va="center",
                      bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75, "linewidth": 0})
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"{len(x):,} messages; numbers: {key} (the {min(MAP_LABELS, len(numbers))} largest)",
                   loc="left", fontsize="medium")
    return figure


def _palette() -> list:
    from matplotlib import colormaps
    return [colormaps["tab20"](i) for i in range(20)]


def timeline_figure(clusters: dict[int, dict], day_counts: dict) -> Figure | None:
    """Each window cluster's share of each day's messages, one row per cluster: a topic arriving shows as a row
    that starts dark only at the right."""
    dates = sorted({date for cluster in clusters.values() for date in (cluster.get("sizes_by_date") or {})})
    if not dates:
        return None
    rows = sorted(clusters)[:TIMELINE_ROWS]
    counts = np.array([[float((clusters[c].get("sizes_by_date") or {}).get(d, 0)) for d in dates] for c in rows])
    per_day = np.array([float(day_counts.get(d) or 0) for d in dates])
    per_day = np.where(per_day > 0, per_day, counts.sum(axis=0))
    shares = counts / np.maximum(per_day, 1.0)
    figure = Figure(figsize=(9, 1.4 + 0.2 * len(rows)), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, aspect="auto", cmap="Blues", interpolation="nearest", vmin=0)
    axes.set_yticks(range(len(rows)), [str(c) for c in rows])
    step = max(1, len(dates) // 14)
    axes.set_xticks(range(0, len(dates), step), [shown_value(d, 12) for d in dates[::step]], rotation=45,
                    ha="right", parse_math=False)
    axes.set_ylabel("window cluster")
    figure.colorbar(image, ax=axes, label="share of the day", shrink=0.8)
    return figure
