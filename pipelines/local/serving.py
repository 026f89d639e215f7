"""The batch-transform serving container, locally: what SageMaker's scikit-learn serving stack does for a
transform job, with the handlers of the image (SAGEMAKER_PROGRAM in SAGEMAKER_SUBMIT_DIRECTORY; here the image is
the installed tweetops package, and no code is ever taken from the model archive).

Each input object is split (SplitType Line: one record per line), records are packed into payloads of at
most MaxPayloadInMB (MultiRecord) or sent one by one (SingleRecord), each payload goes through input_fn ->
predict_fn -> output_fn, and the responses are assembled (AssembleWith Line) into <object>.out.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from processing.container import report_progress, write_failure_reason
from processing.sanitize import one_line
from processing.storage import write_text_atomic


def load_handlers(model_dir: Path):
    """The tweetops serving program that SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY name in the image.

    Only the image's entry point is served: a model whose environment names other code (e.g. a code/ folder of
    the model archive, as SageMaker's default would be) is refused, so a changed archive runs nothing of its own.
    """
    from inference import IMAGE_SERVING_DIR, SERVING_PROGRAM, installed_serving_dir

    program = os.environ.get("SAGEMAKER_PROGRAM", SERVING_PROGRAM)
    submit_dir = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", IMAGE_SERVING_DIR)
    if program != SERVING_PROGRAM or submit_dir.rstrip("/") != IMAGE_SERVING_DIR:
        raise ValueError(f"the model asks to serve {submit_dir}/{program}; only the tweetops image's "
                         f"{IMAGE_SERVING_DIR}/{SERVING_PROGRAM} is served (docs/security.md)")
    code_dir = installed_serving_dir()
    sys.path.insert(0, str(code_dir))  # as the serving stack does: the program's folder first, then import it
    module = importlib.import_module(Path(program).stem)
    missing = [name for name in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, name)]
    if missing:
        raise AttributeError(f"{code_dir / program} lacks the serving handlers {missing}")
    return module


def payloads(records: list[str], strategy: str, max_bytes: int) -> list[list[str]]:
    """Group records into payloads: one each (SingleRecord), or as many as fit in max_bytes (MultiRecord)."""
    if strategy == "SingleRecord":
        return [[record] for record in records]
    groups, current, size = [], [], 0
    for record in records:
        length = len(record.encode("utf-8")) + 1
        if length > max_bytes:
            raise ValueError(f"a record of {length} bytes exceeds MaxPayloadInMB ({max_bytes} bytes)")
        if current and size + length > max_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(record)
        size += length
    return groups + ([current] if current else [])


def split_records(path: Path, split_type: str) -> list[str]:
    """The records of one input object: its non-blank lines (SplitType Line), or the whole object."""
    text = path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()] if split_type == "Line" else [text]


def transform_records(handlers, model, records: list[str], args, progress) -> str:
    """The assembled response for one input object's records."""
    responses = []
    for group in payloads(records, args.strategy, int(args.max_payload_mb * 1024 * 1024)):
        body = handlers.input_fn("\n".join(group) + "\n", args.content_type)
        response = handlers.output_fn(handlers.predict_fn(body, model), args.accept)
        response = response[0] if isinstance(response, tuple) else response
        responses.append(response.decode("utf-8") if isinstance(response, bytes) else response)
        progress(len(group))
    joiner = "\n" if args.assemble_with == "Line" else ""
    return joiner.join(response.rstrip("\n") if joiner else response for response in responses) + joiner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--content-type", default="application/jsonlines")
    parser.add_argument("--accept", default="application/jsonlines")
    parser.add_argument("--split-type", choices=["Line", "None"], default="None")
    parser.add_argument("--strategy", choices=["MultiRecord", "SingleRecord"], default="MultiRecord")
    parser.add_argument("--max-payload-mb", type=float, default=6)
    parser.add_argument("--assemble-with", choices=["Line", "None"], default="None")
    args = parser.parse_args(argv)
    try:
        handlers = load_handlers(args.model_dir)
        model = handlers.model_fn(str(args.model_dir))
        files = sorted(path for path in args.input.rglob("*") if path.is_file())
        records = {path: split_records(path, args.split_type) for path in files}  # each object read once
        total = sum(len(items) for items in records.values())
        done = 0

        def progress(count: int) -> None:
            nonlocal done
            done += count
            report_progress(done, total, "records scored")

        for path in files:
            target = args.output / (path.relative_to(args.input).as_posix() + ".out")
            write_text_atomic(target, transform_records(handlers, model, records[path], args, progress))
        if files:
            print(f"scored {done} records from {len(files)} object(s)")
        return 0
    except Exception as error:  # a model, handler or record can fail in any way: one line, never a traceback
        message = one_line(error)
        write_failure_reason(message)
        print(f"Error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
