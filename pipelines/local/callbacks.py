"""The local twin of SageMaker's callback steps: the message a CallbackStep sends to its SQS queue, and
SendPipelineExecutionStepSuccess / Failure, as files in the executor's home.

    <home>/callbacks/pending/<token>.json   a step waiting: {token, execution, step, inputs (resolved), outputs
                                            (the names it may be sent), created}
    <home>/callbacks/<token>.json           its decision: {token, status (Success|Failure), outputs, reason, at}

The executor announces a waiting step (`announce`) and leaves the execution Executing; whoever decides (e.g.
`tweetops review`) calls `send_decision`, then `LocalExecutor(home).resume(execution)` completes the step with the
decision and carries on. Decisions are checked as SageMaker's API checks them (token, output names and lengths).
"""
from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from processing.storage import write_json_atomic

STATUSES = ("Success", "Failure")
TOKEN = re.compile(r"^[a-zA-Z0-9]{10}$")  # SageMaker's CallbackToken: 10 letters or digits
MAX_OUTPUTS, MAX_NAME_CHARS, MAX_VALUE_CHARS, MAX_REASON_CHARS = 50, 256, 1024, 256  # the API's limits


class CallbackError(ValueError):
    """A decision that cannot be sent (unknown token, already decided, outputs the step does not declare, ...)."""


def announce(home: str | Path, execution: str, step: str, inputs: dict, outputs: list[str]) -> str:
    """Record that `step` of `execution` waits for a decision (what its SQS message says); returns the new token."""
    token = secrets.token_hex(5)
    write_json_atomic(_pending_path(home, token), {
        "token": token, "execution": execution, "step": step, "inputs": inputs, "outputs": list(outputs),
        "created": _now()})
    return token


def pending(home: str | Path) -> list[dict]:
    """Every waiting callback, oldest first; each with "decided": its decision when one was sent, else None."""
    folder = Path(home) / "callbacks" / "pending"
    entries = [_read(path) for path in folder.glob("*.json")] if folder.is_dir() else []
    entries = [{**entry, "decided": decision(home, entry["token"])} for entry in entries if entry]
    return sorted(entries, key=lambda entry: (entry["created"], entry["token"]))


def pending_for(home: str | Path, proposal_id: str) -> dict | None:
    """The waiting callback whose inputs name this proposal (inputs.ProposalId), or None."""
    found = [entry for entry in pending(home) if entry.get("inputs", {}).get("ProposalId") == proposal_id]
    return found[-1] if found else None


def token_for(home: str | Path, execution: str, step: str) -> str | None:
    """The token `step` of `execution` already waits under (a resumed execution keeps its token), or None."""
    found = [entry["token"] for entry in pending(home) if (entry["execution"], entry["step"]) == (execution, step)]
    return found[-1] if found else None


def send_decision(home: str | Path, token: str, status: str, outputs: dict[str, str] | None = None,
                  reason: str = "") -> dict:
    """Decide a waiting callback: Success with output values, or Failure with a reason. CallbackError when the
    token waits for nothing, was decided already, or the outputs are not what the step declares."""
    entry = _read(_pending_path(home, token))
    if entry is None:
        raise CallbackError(f"no step waits for callback token {token} under {Path(home) / 'callbacks' / 'pending'}")
    if decision(home, token) is not None:
        raise CallbackError(f"callback {token} (step {entry['step']} of execution {entry['execution']}) was decided "
                            "already; resume the execution to apply it")
    if status not in STATUSES:
        raise CallbackError(f"callback status {status!r}: expected one of {', '.join(STATUSES)}")
    outputs = dict(outputs or {})
    if status == "Failure" and outputs:
        raise CallbackError("a Failure carries a reason, not outputs")
    problems = _output_problems(outputs, entry["outputs"])
    if len(reason) > MAX_REASON_CHARS:
        problems.append(f"the reason is {len(reason)} characters (at most {MAX_REASON_CHARS})")
    if problems:
        raise CallbackError(f"callback {token}: " + "; ".join(problems))
    document = {"token": token, "status": status, "outputs": outputs, "reason": reason, "at": _now()}
    write_json_atomic(_decision_path(home, token), document)
    return document


def decision(home: str | Path, token: str) -> dict | None:
    """The decision sent for `token`, or None while there is none."""
    return _read(_decision_path(home, token))


def settle(home: str | Path, token: str) -> None:
    """The executor applied the decision: the step waits no more (the decision file stays as the record)."""
    _pending_path(home, token).unlink(missing_ok=True)


def _output_problems(outputs: dict, declared: list[str]) -> list[str]:
    """What SageMaker would refuse in a Success's outputs: undeclared names, non-strings, too many, too long."""
    found = [f"the step declares no output {name!r} (it declares {', '.join(declared) or 'none'})"
             for name in outputs if name not in declared]
    found += [f"output {name!r}: the value must be a string, got {type(value).__name__}"
              for name, value in outputs.items() if not isinstance(value, str)]
    found += [f"output {name!r}: {len(value)} characters (at most {MAX_VALUE_CHARS})"
              for name, value in outputs.items() if isinstance(value, str) and len(value) > MAX_VALUE_CHARS]
    if len(outputs) > MAX_OUTPUTS:
        found.append(f"{len(outputs)} outputs (at most {MAX_OUTPUTS})")
    return found


def _read(path: Path) -> dict | None:
    """A callback file's document, or None when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CallbackError(f"{path}: not a readable callback record ({type(error).__name__})") from None


def _pending_path(home: str | Path, token: str) -> Path:
    return Path(home) / "callbacks" / "pending" / f"{_checked(token)}.json"


def _decision_path(home: str | Path, token: str) -> Path:
    return Path(home) / "callbacks" / f"{_checked(token)}.json"


def _checked(token: str) -> str:
    """The token, when it is safe as a file name (10 letters or digits)."""
    if not isinstance(token, str) or not TOKEN.match(token):
        raise CallbackError(f"callback token {token!r} is not 10 letters or digits")
    return token


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
