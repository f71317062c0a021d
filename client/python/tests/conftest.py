"""Fixtures for the binding's tests: the build's binaries, a local federation
of real tmbusd nodes (deploy/federation on loopback, free ports, taken down
whatever happens) and the environment for child processes.

Run from ctest (tests/CMakeLists.txt), which sets TMBUS_BUILD (the build
tree with tmbusd and tmbus-admin) and TMBUS_LIBRARY (its libtmbus). In a
sanitizer build, ctest starts this Python with the ASan runtime in
LD_PRELOAD and names it in TMBUS_TEST_PRELOAD too: child Pythons keep the
preload, while tmbusd, tmbus-admin and the shell scripts get an environment
without it (they carry their own runtime, linked in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE.parent  # client/python
REPO = PACKAGE_DIR.parents[1]
HEADER = REPO / "client" / "tmbus.h"
FEDERATION = REPO / "deploy" / "federation"

# The package under test is the source tree's (test_install.py checks the
# installed one).
sys.path.insert(0, str(PACKAGE_DIR))


def build_dir() -> Path:
    path = os.environ.get("TMBUS_BUILD")
    if not path:
        pytest.fail("TMBUS_BUILD is not set: run through ctest, or set it to a build directory")
    return Path(path)


def child_env(python: bool = False) -> Dict[str, str]:
    """The environment for a child process: a Python child keeps the
    sanitizer preload (it loads the instrumented libtmbus); anything else
    runs without it and with the sanitizer options it would have had."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not python and env.get("TMBUS_TEST_PRELOAD"):
        env.pop("LD_PRELOAD", None)
        env.pop("ASAN_OPTIONS", None)
    return env


def run(args, *, python: bool = False, timeout: float = 120, check: bool = True,
        **kw) -> subprocess.CompletedProcess:
    """Runs a command with bounded time, capturing its output; on failure
    the assertion shows what it printed."""
    proc = subprocess.run([str(a) for a in args], env=kw.pop("env", None) or child_env(python),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


class Federation:
    """A running local federation: DIR/MEMBER/client.conf per member."""

    def __init__(self, path: Path, members):
        self.path = path
        self.members = list(members)

    def config(self, member: str) -> str:
        return str(self.path / member / "client.conf")

    def client(self, member: str):
        import tmbus

        return tmbus.Client.from_config(self.config(member), timeout=20)


@pytest.fixture(scope="session")
def federation() -> Iterator[Federation]:
    """Two members' nodes, UA (the beneficiary) and EE (a donor), linked."""
    env = child_env()
    env["TMBUS_BUILD"] = str(build_dir())
    tmp = Path(tempfile.mkdtemp(prefix="tmbus-python."))
    fed = tmp / "fed"
    try:
        # `up` stops whatever it started when it fails.
        run([FEDERATION, "up", fed, "UA", "EE"], env=env, timeout=180)
        yield Federation(fed, ["UA", "EE"])
    finally:
        if (fed / "federation.members").exists():
            down = run([FEDERATION, "down", fed], env=env, timeout=60, check=False)
            if down.returncode != 0:
                print(down.stdout, down.stderr, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def ua(federation):
    with federation.client("UA") as c:
        yield c


@pytest.fixture(scope="session")
def ee(federation):
    with federation.client("EE") as c:
        yield c
