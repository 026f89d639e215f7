"""The synthesized estate, built once per test session (synthesis starts a Node.js process: ~10 s)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

# Every test of the estate on one xdist worker: they share one synthesis.
pytestmark = pytest.mark.xdist_group("infra")


@dataclass
class Synthesized:
    """The cloud assembly of one synthesis: the folder, the stack's template, the seconds it took."""
    outdir: Path
    template: dict
    seconds: float

    @property
    def template_path(self) -> Path:
        return self.outdir / "tweetops-dev.template.json"

    def resources(self, kind: str) -> dict[str, dict]:
        """The template's resources of one CloudFormation type, by logical id."""
        return {name: resource for name, resource in self.template["Resources"].items() if resource["Type"] == kind}


def synthesize(outdir: Path, config=None) -> Synthesized:
    """Synthesize the app (cdk-nag checks included) into `outdir`, as `python infra/app.py` does."""
    from infra.app import build

    started = time.perf_counter()
    app, stack = build(config, outdir=str(outdir))
    app.synth()
    seconds = time.perf_counter() - started
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text(encoding="utf-8"))
    return Synthesized(outdir, template, seconds)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    """The dev stack as `python infra/app.py` writes it."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))
