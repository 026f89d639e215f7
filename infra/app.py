"""The tweetops estate as an AWS CDK app: `python infra/app.py` writes the template to infra/cdk.out (or $CDK_OUTDIR,
as the CDK CLI sets it), checked by cdk-nag's AwsSolutions rules; any unacknowledged finding fails synthesis.

    python infra/app.py                                  # dev (context from infra/cdk.json)
    npx aws-cdk@2 deploy --app "python infra/app.py" -c env=prod -c github_repository=owner/name
docs/infrastructure.md says what it creates and how to deploy it.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = ROOT / "infra" / "cdk.json"
if str(ROOT) not in sys.path:  # run as a script: the repository root holds the infra and pipelines packages
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import EstateConfig, from_context  # noqa: E402
from infra.stack import TweetopsStack  # noqa: E402


def build(config: EstateConfig | None = None, outdir: str | None = None) -> tuple[cdk.App, TweetopsStack]:
    """The app with one stack for `config` (default: from the CDK context) and cdk-nag's AwsSolutions checks."""
    outdir = outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "infra" / "cdk.out")
    # The CDK CLI passes infra/cdk.json's context itself; run as a script, the app reads it.
    context = {} if "CDK_CONTEXT_JSON" in os.environ else json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    app = cdk.App(outdir=outdir, context=context)
    config = config or from_context(app.node.try_get_context)
    stack = TweetopsStack(app, config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> int:
    """Synthesize; a bad context value or a cdk-nag finding is one line on stderr and exit code 1."""
    from infra.config import ConfigError

    try:
        app, stack = build()
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as error:  # cdk-nag's ValidationFailed: the report says which rule, where
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"synthesized {stack.stack_name} to {app.outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
