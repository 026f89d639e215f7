"""`tweetops review`: apply an analyst's decisions to an evolution proposal and write category map version N+1;
when a local evolution execution waits on that proposal, send it the decision and resume it. docs/evolution.md.

pipelines.cli registers the command. The rules live in processing.evolution.review (shared with the AWS Lambda
handler, pipelines/review_lambda.py); this is the file-system and terminal edge.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from pipelines.cli_common import one_line_errors
from processing.sanitize import terminal_text

PROPOSAL_FILE = "proposal.json"


def _review_errors(command):
    """Bad proposals, decisions, maps, registry and callback records as one line and exit code 1."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.local.callbacks import CallbackError
        from pipelines.local.executor import LocalRunError
        from processing.category_map import CategoryMapError
        from processing.evolution.review import ReviewError
        from register.local import RegistryError

        with one_line_errors(ReviewError, CategoryMapError, CallbackError, LocalRunError, RegistryError, OSError):
            return command(*args, **kwargs)
    return wrapper


@click.command("review", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("proposal", type=click.Path(exists=True))
@click.option("--decisions", "decisions_path", type=click.Path(exists=True, dir_okay=False),
              help="The analyst's decisions (YAML or JSON; format in docs/evolution.md). Without it, --accept-all or "
                   "--default decides every change.")
@click.option("--reviewer", help="Who reviewed (default: `reviewer` in the decisions file).")
@click.option("--current-map", type=click.Path(exists=True, dir_okay=False),
              help="The current category map (default: the approved package's, from the local registry).")
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME", help="The local executor's home.")
@click.option("--accept-all", is_flag=True, help="Accept every change the decisions file leaves undecided.")
@click.option("--default", "default", type=click.Choice(["accept", "reject"]),
              help="Decide the changes the decisions file leaves undecided this way.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where to write map N+1 (default: <proposal folder>/category_map-v<N+1>.yaml).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing and resume nothing.")
@_review_errors
def review(proposal, decisions_path, reviewer, current_map, home, accept_all, default, out, dry_run) -> None:
    """Apply the analyst's decisions to an evolution PROPOSAL (its folder or proposal.json) and write category
    map version N+1, validated, with ids, lineage, changelog and the reviewer.

    A proposal made against another map than the current one is refused. When a local evolution execution waits
    for this proposal's review, it is sent the decision and resumed.
    """
    from processing.category_map import load_category_map, save_category_map
    from processing.evolution.review import apply_decisions, parse_decisions, proposal_outcome

    if accept_all and default:
        raise click.UsageError("give --accept-all or --default, not both")
    proposal_file = Path(proposal) / PROPOSAL_FILE if Path(proposal).is_dir() else Path(proposal)
    document = _read_proposal(proposal_file)
    if decisions_path:
        decisions = parse_decisions(_read_text(Path(decisions_path)), decisions_path)
    elif accept_all or default:
        if not reviewer:
            raise click.UsageError("say who reviews (--reviewer) when no decisions file names the reviewer")
        decisions = {"proposal": document["proposal_id"], "decisions": []}
    else:
        raise click.UsageError("give --decisions FILE (the review page shows one to edit), or decide every change "
                               "with --accept-all or --default accept|reject")
    current = load_category_map(current_map) if current_map else _approved_map(home)
    at = datetime.now(timezone.utc).replace(microsecond=0)
    new_map, entries = apply_decisions(document, current, decisions, reviewer=reviewer, at=at,
                                       default="accept" if accept_all else default)
    outcome = proposal_outcome(entries)
    click.echo(terminal_text(f"proposal {document['proposal_id']} against map version {current.version}: "
                             f"{outcome}, reviewed by {new_map.reviewed.by}"))
    for line in changelog_lines(entries):
        click.echo(terminal_text(line))
    if dry_run:
        click.echo("dry run: nothing written, no execution resumed")
        return
    folder = proposal_file.parent.resolve()
    written = None
    if outcome == "accepted":
        written = save_category_map(new_map, out or folder / f"category_map-v{new_map.version}.yaml").resolve()
        click.echo(terminal_text(f"category map version {new_map.version}: {written}"))
        rows = _record_version(home, new_map, document["proposal_id"], at)
        click.echo(terminal_text(f"  its categories in the category_maps table (tweetops query): {rows}"))
    else:
        click.echo(terminal_text(f"every change rejected: the current map (version {current.version}) stays"))
    _resume_waiting(home, document["proposal_id"], outcome, written, entries)
    if written:
        click.echo(terminal_text(f"retrain with it: tweetops run-local --input {folder / 'retrain'} "
                                 f"--category-map {written} --assignments {folder / 'clusters'}"))


def changelog_lines(entries: list[dict]) -> list[str]:
    """This version's changelog as a short table: action, change, category, name, what happened."""
    rows = [(e["action"], e.get("change", ""), e.get("category", ""), e.get("name", ""), e.get("detail", ""))
            for e in entries]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(("action", "change",
                                                                                               "category", "name"))]
    header = ("action", "change", "category", "name", "what")
    return ["  " + "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
            for row in (header, *rows)]


def _read_text(path: Path) -> str:
    """A decisions file's text; its size is checked before it is read."""
    from processing.evolution.review import MAX_DECISIONS_BYTES, ReviewError

    if path.stat().st_size > MAX_DECISIONS_BYTES:
        raise ReviewError(f"{path}: larger than {MAX_DECISIONS_BYTES >> 20} MiB; a decisions file is a few lines "
                          "per change")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ReviewError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def _read_proposal(path: Path) -> dict:
    from processing.evolution.review import MAX_PROPOSAL_BYTES, ReviewError, parse_proposal

    if not path.is_file():
        raise ReviewError(f"{path}: no proposal here (give an evolution output folder or its proposal.json)")
    if path.stat().st_size > MAX_PROPOSAL_BYTES:
        raise ReviewError(f"{path}: larger than {MAX_PROPOSAL_BYTES >> 20} MiB; not a proposal")
    return parse_proposal(path.read_bytes(), path)


def _approved_map(home: str):
    """The category map of the latest approved package in the home's local registry."""
    from pipelines.cli_common import load_settings
    from register.registry import approved_category_map, local_backend

    from processing.evolution.review import ReviewError
    from register.local import RegistryError

    registry, read_json = local_backend(home)
    try:
        return approved_category_map(registry, load_settings(None).model_package_group, read_json)
    except RegistryError as error:
        raise ReviewError(f"{error}: pass --current-map FILE") from None


def _record_version(home: str, new_map, proposal_id: str, at: datetime) -> Path:
    """Map N+1's rows of the category_maps table, into the home's store beside the drafts the training runs wrote
    (<home>/s3/<bucket>/<prefix>/category-map-versions/date=<day>/review-<proposal id>.parquet)."""
    from pipelines.cli_common import load_settings
    from pipelines.local.run import local_settings
    from pipelines.local.store import LocalStore
    from processing.map_versions import TABLE, review_run, write_map_version

    settings = local_settings(load_settings(None))
    zone = LocalStore(Path(home) / "s3").path(f"s3://{settings.bucket}/{settings.prefix}/{TABLE.zone}/")
    return write_map_version(new_map, zone, review_run(proposal_id), at)


def _resume_waiting(home: str, proposal_id: str, outcome: str, written: Path | None, entries: list[dict]) -> None:
    """Send the decision to the local evolution execution waiting on this proposal (if any) and resume it."""
    from pipelines.local import callbacks

    if not (Path(home) / "callbacks").is_dir():
        return
    waiting = callbacks.pending_for(home, proposal_id)
    if waiting is None or waiting.get("decided"):
        return
    reason = "; ".join(e.get("detail", e["action"]) for e in entries if e["action"] != "keep")[:256]
    outputs = {"Decision": outcome, "Reason": reason or outcome, "CategoryMapUri": str(written or ""),
               "TrainingExecutionArn": ""}  # locally the retraining is the printed run-local command
    callbacks.send_decision(home, waiting["token"], "Success",
                            {name: value for name, value in outputs.items() if name in waiting.get("outputs", [])})
    from pipelines.local.executor import LocalExecutor
    from pipelines.local.terminal import TerminalReport

    execution = LocalExecutor(home, report=TerminalReport()).resume(waiting["execution"])
    status = execution.record["PipelineExecutionStatus"]
    click.echo(terminal_text(f"evolution execution {execution.id}: decision sent ({outcome}), now {status}"))
