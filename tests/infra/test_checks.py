"""Specification of the estate's template against the three checkers: cfn-lint (no error), checkov (no failed check;
each skip carries its reason and is needed), cdk-nag's AwsSolutions rules (no unacknowledged finding; each
acknowledgement carries its reason). The counts and reasons are printed (pytest -s) for the record."""
from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from cfnlint.api import ManualArgs, lint_file

from infra import devtools

pytestmark = pytest.mark.xdist_group("infra")


def checkov(template_path) -> dict:
    """checkov's JSON report of one CloudFormation template (offline: no download, no guidelines)."""
    try:
        command = devtools.checkov_command()
    except devtools.ToolMissing:
        devtools.install_checkov()  # the first run on a fresh machine installs it (python infra/devtools.py install)
        command = devtools.checkov_command()
    result = subprocess.run([*command, "--framework", "cloudformation", "-f", str(template_path), "--output", "json",
                             "--skip-download"], capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: failed checks, reported below
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_the_template_synthesizes_and_says_how_long_it_took(synthesized):
    print(f"\nsynthesis of tweetops-dev (cdk-nag included): {synthesized.seconds:.1f} s, "
          f"{len(synthesized.template['Resources'])} resources")
    assert synthesized.template_path.is_file()
    assert "BootstrapVersion" not in synthesized.template.get("Parameters", {})  # deploys without CDK's bootstrap


def test_cfn_lint_finds_no_error(synthesized):
    findings = lint_file(synthesized.template_path, ManualArgs())
    errors = [f"{match.rule.id} {match.message}" for match in findings if match.rule.severity == "error"]
    print(f"\ncfn-lint: {len(errors)} errors, {len(findings) - len(errors)} warnings "
          f"({', '.join(sorted({match.rule.id for match in findings if match.rule.severity != 'error'}))})")
    assert errors == []


def test_cfn_lint_does_read_the_template(synthesized, tmp_path):
    # The check above is not vacuous: the same template with a property CloudFormation does not know is an error.
    template = json.loads(synthesized.template_path.read_text(encoding="utf-8"))
    (bucket,) = [resource for name, resource in template["Resources"].items()
                 if resource["Type"] == "AWS::S3::Bucket" and name.startswith("StorageData")]
    bucket["Properties"]["Encrypted"] = True
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(template), encoding="utf-8")
    assert any(match.rule.severity == "error" for match in lint_file(broken, ManualArgs()))


def test_checkov_fails_no_check_and_every_skip_has_its_reason(synthesized):
    report = checkov(synthesized.template_path)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] > 50 and summary["passed"] > 100
    failed = [f"{check['check_id']} {check['resource']}" for check in report["results"]["failed_checks"]]
    skipped = report["results"]["skipped_checks"]
    print(f"\ncheckov: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
    for check in skipped:
        print(f"  skip {check['check_id']} on {check['resource']}: {check['check_result'].get('suppress_comment')}")
    assert failed == []
    assert all(check["check_result"].get("suppress_comment", "").strip() for check in skipped)


def test_every_checkov_skip_is_needed(synthesized, tmp_path):
    # The same template without its skips: each skipped check must fail there, so no skip hides nothing.
    template = json.loads(synthesized.template_path.read_text(encoding="utf-8"))
    skipped = set()
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).pop("checkov", {}).get("skip", []):
            skipped.add((skip["id"], name))
    bare = tmp_path / "bare.template.json"
    bare.write_text(json.dumps(template), encoding="utf-8")
    failed = {(check["check_id"], check["resource"].split(".", 1)[1])
              for check in checkov(bare)["results"]["failed_checks"]}
    assert skipped and skipped <= failed, f"skips that hide nothing: {sorted(skipped - failed)}"


def test_cdk_nag_reports_no_unacknowledged_finding_and_every_acknowledgement_has_its_reason(synthesized):
    report = json.loads((synthesized.outdir / "validation-report.json").read_text(encoding="utf-8"))
    violations = [violation for plugin in report["pluginReports"] for violation in plugin["violations"]]
    assert violations == []
    metadata = json.loads((synthesized.outdir / "tweetops-dev.metadata.json").read_text(encoding="utf-8"))
    acknowledged = acknowledgements(metadata)
    rules = Counter(rule.split("[")[0] for rule, _, _ in acknowledged)
    reasons = {(rule.split("[")[0], path.rsplit("/", 2)[0], reason) for rule, path, reason in acknowledged}
    print(f"\ncdk-nag: 0 unacknowledged; {len(acknowledged)} acknowledged findings "
          f"({', '.join(f'{rule} {count}' for rule, count in sorted(rules.items()))}) for {len(reasons)} reasons:")
    for rule, path, reason in sorted(reasons):
        print(f"  {rule} on {path}: {reason}")
    assert acknowledged and all(reason.strip() for _, _, reason in acknowledged)


def test_cdk_nag_runs_at_synthesis_and_refuses_an_unacknowledged_finding(tmp_path):
    # The clean report above is not vacuous: the same app with one bucket that accepts plain HTTP fails synthesis.
    from aws_cdk import aws_s3 as s3

    from infra.app import build

    app, stack = build(outdir=str(tmp_path))
    s3.Bucket(stack, "Careless", encryption=s3.BucketEncryption.S3_MANAGED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text(encoding="utf-8"))
    rules = {violation["ruleName"] for plugin in report["pluginReports"] for violation in plugin["violations"]
             if any(construct["constructPath"].startswith("tweetops-dev/Careless")
                    for construct in violation["violatingConstructs"])}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules  # no access logs, no TLS-only policy


def acknowledgements(metadata: dict) -> list[tuple[str, str, str]]:
    """(rule, construct path, reason) of every acknowledgement recorded in the cloud assembly's metadata."""
    return [(rule.split("::", 1)[-1], path, reason)
            for path, entries in metadata.items() for entry in entries if entry["type"] == "aws:cdk:acknowledged-rules"
            for rule, reason in entry["data"].items()]
