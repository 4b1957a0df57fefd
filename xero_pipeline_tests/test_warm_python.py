"""The warm process starter the crash tests rely on behaves like `python -m`: its own environment,
directory, output and exit code, a real SIGKILL, and nothing of the pipeline imported before it."""

from __future__ import annotations

import json
import os
import signal
import textwrap

import xero_pipeline  # noqa: F401  (imported here, so the test shows the child does not inherit it)
from xero_pipeline_tests import warm_python

REPORT = """
import json, os, sys
print(json.dumps({
    "argv": sys.argv[1:],
    "variable": os.environ.get("WARM_PYTHON_PROBE"),
    "cwd": os.getcwd(),
    "pipeline_loaded": any(m.split(".")[0] == "xero_pipeline" for m in sys.modules),
    "dagster_loaded": "dagster" in sys.modules,
    "pid": os.getpid(),
}))
print("to stderr", file=sys.stderr)
sys.exit(3)
"""

DIE = """
import os, signal
print("written before the kill", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
print("never written")
"""


def write_module(directory, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_a_warm_process_has_its_own_environment_directory_output_and_exit_code(
    tmp_path, monkeypatch
):
    write_module(tmp_path, "warm_report", REPORT)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    env = {"PYTHONPATH": str(tmp_path), "WARM_PYTHON_PROBE": "given", "PATH": os.environ["PATH"]}

    done = warm_python.run("warm_report", "a", "--b", env=env, timeout=60)

    assert done.returncode == 3
    assert done.stderr == "to stderr\n"
    report = json.loads(done.stdout)
    assert report["argv"] == ["a", "--b"]
    assert report["variable"] == "given"
    assert report["cwd"] == str(workdir)
    assert report["pid"] != os.getpid()
    assert report["pipeline_loaded"] is False  # the pipeline loads fresh, with this environment
    assert report["dagster_loaded"] is True  # the libraries were imported before the fork


def test_a_warm_process_dies_of_a_real_sigkill_and_keeps_what_it_wrote(tmp_path):
    write_module(tmp_path, "warm_die", DIE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    process = warm_python.start("warm_die", env=env, merge_stderr=True)
    output, stderr = process.communicate(timeout=60)

    assert process.returncode == -signal.SIGKILL
    assert output == "written before the kill\n"
    assert stderr is None  # merged into the output
