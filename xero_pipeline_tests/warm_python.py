"""`python -m MODULE ARGS…` in a process of its own that starts warm.

A cold interpreter spends seconds of CPU importing Dagster, pandas and SQLAlchemy before the
command does anything, and the crash and concurrency tests start about fifty such processes: on
two cores that is minutes of the suite. Here each one is forked from a server process
(multiprocessing's forkserver, one per test worker) that imported those libraries once — and
nothing of the pipeline, which reads its settings from the environment as it loads. (Great
Expectations is not among them: the pipeline imports it only when a gate finds rows failing.)

What the tests rely on stays true: the command runs in a new OS process, with the environment,
working directory and output files given here, and it dies of a real SIGKILL (exit -9) when the
crash harness kills it. It inherits nothing from the test process (no connection, no sandbox
thread, no imported pipeline module), only the server's freshly imported libraries. The CLI's own
start-up from a cold `python -m xero_pipeline.cli` stays covered by test_cli.py and the installed
package's test.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

# Third-party only: importing any of the pipeline here would freeze settings it reads at import.
PRELOAD = ["dagster", "pandas", "sqlalchemy", "psycopg2", "requests"]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


def _child(module: str, args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """What the forked process runs: `python -m module args` as far as the module can tell."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # What a cold `python` would take from PYTHONPATH; the rest of sys.path is the server's.
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    sys.path[0:0] = extra
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [module, *args]
    # `SystemExit` from the module becomes the exit code, as with `python -m`.
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class WarmProcess:
    """The slice of `subprocess.Popen` the tests use: poll, wait, communicate, kill."""

    def __init__(
        self, module: str, args: list[str], env: Mapping[str, str], merge_stderr: bool
    ) -> None:
        self._files = tempfile.TemporaryDirectory(prefix="warm-python-")
        self._out = Path(self._files.name) / "stdout"
        self._err = self._out if merge_stderr else Path(self._files.name) / "stderr"
        self._out.touch()
        self._err.touch()
        self._process = _context.Process(
            target=_child,
            args=(module, args, dict(env), os.getcwd(), str(self._out), str(self._err)),
            daemon=False,
        )
        self._process.start()
        self.pid = self._process.pid
        self.args = [sys.executable, "-m", module, *args]

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()

    def communicate(self, timeout: float | None = None) -> tuple[str, str | None]:
        """Wait for the exit, then return what it wrote (stderr None when merged into stdout)."""
        self.wait(timeout)
        out = self._out.read_text(errors="replace")
        err = None if self._err == self._out else self._err.read_text(errors="replace")
        self._files.cleanup()
        return out, err


def start(
    module: str, *args: str, env: Mapping[str, str] | None = None, merge_stderr: bool = False
) -> WarmProcess:
    """Start `python -m module args…` (by default in this process's current environment)."""
    return WarmProcess(module, list(args), os.environ if env is None else env, merge_stderr)


def run(
    module: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """`subprocess.run(…, capture_output=True, text=True)` for `python -m module args…`;
    a process still running at the timeout is killed and `TimeoutExpired` raised."""
    process = start(module, *args, env=env)
    try:
        out, err = process.communicate(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
