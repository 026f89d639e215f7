"""Warm job starts: one process imports the jobs' stack once, then forks a fresh process for each job container.

A local job container is a new process of this environment running a tweetops entry point (containers.py). Most of
a small job's time went to importing pandas, scikit-learn and spaCy: seconds per job, paid by every step of every
run. Like SageMaker's warm pools, the executor keeps one warm process per run. It imports that stack in the
background (light jobs start as new processes meanwhile; the others wait for it); once it is ready, each job is a
fork of it. The
forked child takes the job's working folder, environment, arguments and standard streams, then runs the entry
point that `tweetops <command>` or `python -m pipelines.local.serving` would run. It is still a process of its
own: its memory, its exit code, killed with its instance or when the executor dies.

Only the image's entry points start warm; any other program (tests add small ones) starts as a new process.
TWEETOPS_WARM_JOBS=0 turns warm starts off.
"""
from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

DISABLE_VARIABLE = "TWEETOPS_WARM_JOBS"
SERVING_MODULE = "pipelines.local.serving"
# What the warm process imports: every job's common stack, then the cleaner's spaCy pipelines and word lexicons
# (seconds that every cleaning job, the transform's instances and the Monitor's sample would each pay). Not torch or
# sentence-transformers: only the embedding featurizers' one-time model export needs them, and imports them itself.
PRELOADED = ("numpy", "pandas", "pyarrow.parquet", "pipelines.cli", "processing.validation_jobs",
             "processing.predictions", "inference.handlers", SERVING_MODULE, "processing.jobs",
             "processing.monitoring.jobs", "processing.evolution.jobs")
WARMED_UP = ("processing.clean:preload",)  # called after the imports
# Imported once the warm process is ready, one module at a time while no request waits: what only later steps use
# (the Monitor's report page and ONNX Runtime for its embedding sample, 0.5-0.6 s), off the first job's path.
LATE_PRELOADED = ("reports.monitoring", "onnxruntime", "tokenizers")
MAX_MESSAGE = 1 << 20  # one request: command, folder and environment of a job
# A process's string hash seed is fixed when it starts, so a fork keeps the warm process's: the one every processing
# and training job's definition sets (PYTHONHASHSEED=0, for reproducible outputs). A job asking for another starts
# as a new process; one that sets none would get a random seed, of which 0 is one.
HASH_SEED = "0"
# Jobs that need little beyond pandas start cold while the warm process is still importing; the others wait for it,
# as a cold start would import the same stack again on the same cores (`validate --clean` cleans: not light).
LIGHT_COMMANDS = frozenset({"validate", "validation-tables", "summarize-predictions", "accumulate", "record-map"})
READY_WAIT_SECONDS = 120


# ------------------------------------------------------------------------------------------- the executor's side
def enabled() -> bool:
    """Warm starts are on unless TWEETOPS_WARM_JOBS=0, on Linux (fork, file descriptors passed over a socket)."""
    return os.environ.get(DISABLE_VARIABLE, "1") != "0" and sys.platform.startswith("linux")


def is_cli_command(command: list[str]) -> bool:
    """Whether a container command is the `tweetops` command line (else it is the serving module)."""
    return Path(command[0]).name == "tweetops"


def is_warm_command(command: list[str]) -> bool:
    """Whether a container command is an image entry point that a warm process can run."""
    return is_cli_command(command) or list(command[1:3]) == ["-m", SERVING_MODULE]


class WarmProcess:
    """A job process forked by the warm process, with what containers._run_one uses of a Popen."""

    def __init__(self, pid: int, stdout, stderr):
        self.pid, self.stdout, self.stderr = pid, stdout, stderr
        self.returncode: int | None = None
        self._ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: killed by that signal), once the warm process has reaped the job."""
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"job process {self.pid}", timeout)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def ended(self, code: int) -> None:
        self.returncode = code
        self._ended.set()


class WarmStarter:
    """The executor's side: starts the warm process, asks it for job processes, hears how they end.

    Start it from a thread that lives as long as the run: the warm process dies with that thread (and its jobs with
    it), so that nothing outlives a killed executor."""

    def __init__(self, preload: tuple[str, ...] = PRELOADED, late: tuple[str, ...] = LATE_PRELOADED):
        self.preload, self.late = preload, late
        self.process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._ready = threading.Event()
        self._settled = threading.Event()  # ready, or gone
        self._lock = threading.Lock()
        self._started: dict[int, WarmProcess] = {}
        self._waiting: dict[int, threading.Event] = {}
        self._exits: dict[int, int] = {}
        self._jobs: dict[int, WarmProcess] = {}

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.process is not None and self.process.poll() is None

    def start(self) -> "WarmStarter":
        """Start the warm process; it imports in the background (jobs start cold until it is ready)."""
        from pipelines.local.containers import _die_with_parent

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno()), ",".join(self.preload), ",".join(self.late)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": HASH_SEED}, preexec_fn=_die_with_parent)
        theirs.close()
        self._socket = ours
        threading.Thread(target=self._listen, daemon=True, name="warm-starts").start()
        return self

    def spawn(self, command: list[str], cwd: Path, environment: dict[str, str]) -> WarmProcess | None:
        """A job process running `command` in `cwd` with exactly `environment`; None when the warm process cannot
        start it (not ready, gone, or not an entry point it runs): the caller then starts a new process."""
        if not is_warm_command(command) or environment.get("PYTHONHASHSEED", HASH_SEED) != HASH_SEED:
            return None
        light = (is_cli_command(command) and len(command) > 1 and command[1] in LIGHT_COMMANDS
                 and "--clean" not in command)
        if not self._settled.wait(0 if light else READY_WAIT_SECONDS) or not self.ready:
            return None
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        request = json.dumps({"command": list(command), "cwd": str(cwd), "environment": environment}).encode()
        started = threading.Event()
        try:
            with self._lock:
                self._waiting[id(started)] = started
                socket.send_fds(self._socket, [json.dumps({"ticket": id(started)}).encode() + b"\n" + request],
                                [out_write, err_write])
            sent = True
        except OSError:
            sent = False
        finally:  # the job has its own copies of the write ends: ours must close for its output to end
            os.close(out_write)
            os.close(err_write)
        if sent:
            # No timeout: a request that was sent is forked (or the warm process is gone, which sets every waiting
            # event); giving up early would start the job a second time, cold, beside its fork.
            started.wait()
        else:
            self._waiting.pop(id(started), None)
        if id(started) not in self._started:
            os.close(out_read)
            os.close(err_read)
            return None
        job = self._started.pop(id(started))
        job.stdout = open(out_read, encoding="utf-8", errors="replace")
        job.stderr = open(err_read, encoding="utf-8", errors="replace")
        return job

    def close(self) -> None:
        """Stop the warm process (its jobs have ended by then; any left are killed with it)."""
        if self._socket is not None:
            # shutdown, not only close: the listener thread's recv holds the socket open, so a bare close would not
            # reach the warm process, which would then wait out the timeout below (5 s at the end of every run)
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._socket.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _listen(self) -> None:
        while True:
            try:
                data = self._socket.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:  # the warm process ended: waiting spawns give up, running jobs count as killed
                self._ready.clear()
                self._settled.set()
                for event in list(self._waiting.values()):
                    event.set()
                for job in list(self._jobs.values()):
                    job.ended(-signal.SIGKILL)
                return
            message = json.loads(data)
            if "ready" in message:
                self._ready.set()
                self._settled.set()
            elif "started" in message:
                job = WarmProcess(message["started"], None, None)
                self._jobs[job.pid] = job
                self._started[message["ticket"]] = job
                self._waiting.pop(message["ticket"]).set()
            elif "exited" in message:
                job = self._jobs.pop(message["exited"], None)
                if job is not None:
                    job.ended(message["code"])


# --------------------------------------------------------------------------------------------- the warm process
def serve(channel: socket.socket, preload: list[str], late: list[str] = ()) -> None:
    """Import `preload`, say ready, then fork a job process per request until the executor closes the channel;
    import `late` one module at a time whenever no request is waiting."""
    _import_quietly(preload)
    _warm_up()
    late = list(late)
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the wakeup pipe when a job ends
    channel.send(json.dumps({"ready": True}).encode())
    while True:
        readable, _, _ = select.select([channel, wakeup_read], [], [], 0 if late else None)
        if not readable and late:  # idle: a request arriving now waits for this one import only
            _import_quietly([late.pop(0)])
            continue
        if wakeup_read in readable:
            os.read(wakeup_read, 4096)
        if channel in readable:
            try:
                data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                os._exit(0)  # the executor is done; tearing down the preloaded stack would only cost time
            header, request = data.split(b"\n", 1)
            pid = os.fork()
            if pid == 0:
                channel.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                run_job(json.loads(request), *fds)  # never returns
            for fd in fds:
                os.close(fd)
            channel.send(json.dumps({"started": pid, **json.loads(header)}).encode())
        _reap(channel)


def _reap(channel: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel.send(json.dumps({"exited": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def _import_quietly(modules: list[str]) -> None:
    """Import each module; one that fails is left for the job to meet itself."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - any import error is the job's to report
            pass


def _warm_up() -> None:
    """Call the WARMED_UP functions; one that fails is left for the job to meet itself."""
    for name in WARMED_UP:
        module, function = name.split(":")
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001
            pass


def run_job(request: dict, stdout_fd: int, stderr_fd: int) -> None:
    """In the forked child: become the job (folder, environment, streams, arguments), run it, exit with its code."""
    code = 1
    try:
        from pipelines.local.containers import _die_with_parent

        _die_with_parent()
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        os.close(stdout_fd)
        os.close(stderr_fd)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environment"])
        command = request["command"]
        sys.argv = list(command) if is_cli_command(command) else [SERVING_MODULE, *command[3:]]
        code = _entry_point(command)
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except BaseException:  # noqa: BLE001 - as Python itself would: the traceback on stderr, exit code 1
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _entry_point(command: list[str]) -> int:
    if is_cli_command(command):
        from pipelines.cli import main

        main(args=list(command[1:]), prog_name="tweetops")
        return 0
    from pipelines.local.serving import main

    return main(list(command[3:]))


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), *[[name for name in names.split(",") if name]
                                                    for names in sys.argv[2:4]])
