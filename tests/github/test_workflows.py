"""Specification of the CI/CD workflows (.github/workflows/): actionlint finds nothing in them; the tests workflow runs
the README's test command after the install .ci/run does; the release and infra workflows reach AWS only through
GitHub's OIDC token and roles named in repository variables (no stored keys), pull requests never get the deploy
role, and `cdk deploy` waits behind the reviewers of the `production` environment."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from infra.devtools import ToolMissing, actionlint_command, install_actionlint
from pipelines.cli import main as tweetops
from pipelines.operations import package_version

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
AWS_WORKFLOWS = ("release.yml", "infra.yml")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
DEPLOY_ROLE = "${{ vars.TWEETOPS_DEPLOY_ROLE_ARN }}"


def load(name: str) -> dict:
    """A workflow as data; its `on:` key under "on" (YAML 1.1 reads a bare `on` as the boolean true)."""
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def triggers(workflow: dict) -> set[str]:
    """The events that start a workflow."""
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def steps(job: dict) -> list[dict]:
    """A job's steps."""
    return job.get("steps") or []


def commands(job: dict) -> list[str]:
    """Every shell command the job's `run:` steps run, one per line, continuation lines joined, comments dropped."""
    lines = []
    for step in steps(job):
        script = re.sub(r"\\\n\s*", "", step.get("run", ""))
        lines += [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    return lines


def assumes_a_role(job: dict) -> list[dict]:
    """The job's configure-aws-credentials steps."""
    return [step for step in steps(job) if step.get("uses", "").startswith(f"{CONFIGURE_AWS}@")]


def tweetops_commands(workflow: dict) -> list[str]:
    """The `tweetops` commands a workflow runs, in order."""
    ran = [command for job in workflow["jobs"].values() for command in commands(job)]
    return [command for command in ran if command.startswith("tweetops ")]


def lint(paths: list[Path]) -> list[dict]:
    """actionlint's findings for these files."""
    try:
        command = actionlint_command()
    except ToolMissing:
        try:  # the first run on a fresh machine installs it (python infra/devtools.py install)
            install_actionlint()
            command = actionlint_command()
        except ToolMissing as error:
            pytest.fail(str(error))
    result = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def readme_test_command() -> str:
    """The command under "Run the tests:" in the README."""
    match = re.search(r"Run the tests:\s*```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    assert match, "README.md has no 'Run the tests:' block"
    return match.group(1).strip()


def test_the_three_workflows_exist_and_actionlint_finds_nothing_in_them():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {path.name for path in files} >= {"tests.yml", "release.yml", "infra.yml"}
    assert lint(files) == []


def test_actionlint_reports_a_broken_workflow_and_knows_the_vars_context(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ vars.FINE }} ${{ matrix.undefined }}\n      - uses: actions/checkout\n")
    findings = lint([broken])
    assert {(finding["line"], finding["kind"]) for finding in findings} == {(6, "expression"), (7, "action")}
    assert all(finding["file"] == str(broken) for finding in findings)


def test_every_action_is_pinned_by_a_full_commit_sha():
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in steps(job):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (path.name, step["uses"])


def test_the_tests_workflow_runs_exactly_the_readme_test_command_on_every_pull_request_and_push_to_main():
    workflow = load("tests.yml")
    assert triggers(workflow) == {"pull_request", "push"}
    assert workflow["on"]["push"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert [command for command in commands(job) if "pytest" in command] == [readme_test_command()]
    assert commands(job)[-1] == readme_test_command()


def test_the_tests_workflow_installs_what_ci_run_installs_before_the_tests():
    ci_run = [shlex.split(line, comments=True) for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    installs = [" ".join(words) for words in ci_run if words[:1] in (["python3"], ["python"])
                and " ".join(words) != readme_test_command()]
    assert any("devtools.py install" in install for install in installs) and len(installs) >= 4
    (job,) = load("tests.yml")["jobs"].values()
    ran = [" ".join(shlex.split(command, comments=True)) for command in commands(job)]
    assert [install for install in installs if install not in ran] == []
    assert any("apt-get install" in command and "chromium" in command for command in ran)  # as .ci/run does


@pytest.mark.parametrize("name", AWS_WORKFLOWS)
def test_the_aws_workflows_use_oidc_and_roles_from_repository_variables_never_stored_keys(name):
    workflow, text = load(name), (WORKFLOWS / name).read_text()
    aws_jobs = {job_name: job for job_name, job in workflow["jobs"].items() if assumes_a_role(job)}
    assert aws_jobs
    assert "id-token" not in workflow.get("permissions", {})  # granted to the jobs that assume a role, no others
    for job_name, job in workflow["jobs"].items():
        assert (job.get("permissions", {}).get("id-token") == "write") == (job_name in aws_jobs), job_name
    for job in aws_jobs.values():
        for step in assumes_a_role(job):
            inputs = step["with"]
            assert re.fullmatch(r"\$\{\{ vars\.TWEETOPS_\w+_ROLE_ARN \}\}", inputs["role-to-assume"])
            assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(inputs)
    assert "secrets." not in text and "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_only_pushes_to_main_get_the_deploy_role_never_a_pull_request():
    for name in AWS_WORKFLOWS:
        workflow = load(name)
        for job_name, job in workflow["jobs"].items():
            if not any(step["with"]["role-to-assume"] == DEPLOY_ROLE for step in assumes_a_role(job)):
                continue
            if triggers(workflow) == {"push"}:
                assert workflow["on"]["push"]["branches"] == ["main"], (name, job_name)
            else:
                assert "github.event_name == 'push'" in job["if"] and "github.ref == 'refs/heads/main'" in job["if"]
    (diff,) = [job for job in load("infra.yml")["jobs"].values() if "pull_request" in job.get("if", "")]
    assert [step["with"]["role-to-assume"] for step in assumes_a_role(diff)] == ["${{ vars.TWEETOPS_DIFF_ROLE_ARN }}"]


def test_cdk_diffs_on_pull_requests_and_deploys_on_main_only_behind_the_production_environment():
    workflow = load("infra.yml")
    assert triggers(workflow) == {"pull_request", "push"} and workflow["on"]["push"]["branches"] == ["main"]
    cdk = {job_name: [shlex.split(c) for c in commands(job) if "$CDK_CLI" in c] for job_name, job in
           workflow["jobs"].items()}
    verbs = {job_name: {words[3] for words in runs} for job_name, runs in cdk.items()}
    assert verbs == {"diff": {"diff"}, "deploy": {"deploy"}}
    for runs in cdk.values():
        for words in runs:
            assert words[:3] == ["npx", "--yes", "$CDK_CLI"] and words[4:6] == ["--app", "python infra/app.py"]
    assert re.fullmatch(r"aws-cdk@2\.\d+\.\d+", workflow["env"]["CDK_CLI"])  # the CDK command line, pinned
    assert workflow["jobs"]["deploy"]["environment"] == "production"
    assert "environment" not in workflow["jobs"]["diff"]
    for name in ("tests.yml", "release.yml"):  # nothing else diffs or deploys the stack
        assert not [command for job in load(name)["jobs"].values() for command in commands(job) if "cdk" in command]


def test_the_release_pushes_the_job_and_lambda_images_tagged_with_the_tweetops_version():
    jobs = load("release.yml")["jobs"]
    ran = commands(jobs["images"])
    builds = {words[words.index("-f") + 1]: words[words.index("-t") + 1] for words in map(shlex.split, ran)
              if words[:2] == ["docker", "build"]}
    assert builds == {"docker/Dockerfile": "$JOB_IMAGE", "docker/lambda.Dockerfile": "$LAMBDA_IMAGE"}
    assert {"docker push $JOB_IMAGE", "docker push $LAMBDA_IMAGE"} <= {" ".join(shlex.split(c)) for c in ran}
    (tags,) = [c for c in ran if c.startswith("{ echo")]
    assert tags == '{ echo "job=$repository:$version"; echo "lambda=$repository:lambda-$version"; } >> "$GITHUB_OUTPUT"'
    # The version is what the CLI puts in image_uri (<repository>:<package_version()>): run the workflow's own line.
    (line,) = [c for c in ran if c.startswith("version=")]
    code = shlex.split(line.removeprefix("version=$(").removesuffix(")"))
    assert code[:2] == ["python", "-c"]
    printed = subprocess.run([sys.executable, "-c", code[2]], capture_output=True, text=True, cwd=ROOT)
    assert printed.stdout.strip() == package_version()


def test_the_release_upserts_the_three_pipelines_with_no_flag_but_the_stack():
    upserts = [shlex.split(command) for command in tweetops_commands(load("release.yml"))]
    assert all(words[:3] == ["tweetops", "pipeline", "upsert"] for words in upserts)
    options = [dict(zip(words[3::2], words[4::2])) for words in upserts]
    assert [sorted(found) for found in options] == [["--pipeline-type", "--stack"]] * 3
    assert sorted(found["--pipeline-type"] for found in options) == ["evolution", "inference", "training"]
    assert {found["--stack"] for found in options} == {"$STACK_NAME"}
    assert load("release.yml")["env"]["STACK_NAME"] == "${{ vars.TWEETOPS_STACK_NAME || 'tweetops-dev' }}"


def test_the_cli_accepts_every_tweetops_command_the_release_runs():
    ran = tweetops_commands(load("release.yml"))
    assert ran
    for command in ran:
        arguments = [word.replace("$STACK_NAME", "tweetops-dev") for word in shlex.split(command)[1:]]
        # --help after the options: click checks every option name, then prints help instead of running.
        result = CliRunner().invoke(tweetops, [*arguments, "--help"])
        assert result.exit_code == 0, (command, result.output)
