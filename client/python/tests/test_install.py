"""The install path a partner takes: the package installed offline with pip
(no index, no build isolation: Debian's setuptools does the build) into a
fresh virtual environment that sees the system's packages, then imported
from there, finding libtmbus by TMBUS_LIBRARY or by its soname.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from conftest import HEADER, PACKAGE_DIR, child_env, run


def header_version() -> str:
    text = HEADER.read_text()
    parts = [text.split(f"#define TMBUS_VERSION_{p} ")[1].split()[0]
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def header_soname() -> str:
    return "libtmbus.so." + HEADER.read_text().split("#define TMBUS_ABI ")[1].split()[0]


def test_pip_install_into_a_venv(tmp_path):
    # A copy, so that the build writes nothing into the source tree.
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    py = venv / "bin" / "python3"
    run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet", src],
        timeout=300)

    # Imported from the venv, not from the source tree or a PYTHONPATH.
    env = child_env(python=True)
    env.pop("PYTHONPATH", None)
    probe = ("import tmbus, pathlib; print(tmbus.__file__); print(tmbus.version()); "
             "print((pathlib.Path(tmbus.__file__).parent / 'py.typed').exists())")
    out = run([py, "-c", probe], env=env, cwd=tmp_path).stdout.split()
    assert Path(out[0]).is_relative_to(venv), out
    assert out[1:] == [header_version(), "True"]

    # Without TMBUS_LIBRARY, through the soname (here on LD_LIBRARY_PATH,
    # as the dynamic linker's cache would find an installed one).
    lib = Path(os.environ["TMBUS_LIBRARY"])
    env_soname = dict(env)
    env_soname.pop("TMBUS_LIBRARY")
    env_soname["LD_LIBRARY_PATH"] = str(lib.parent)
    out = run([py, "-c", "import tmbus; print(tmbus.library_path(), tmbus.version())"],
              env=env_soname, cwd=tmp_path).stdout.split()
    assert out == [header_soname(), header_version()]

    # A library that is not there: the import works, the first use says why.
    env_bad = dict(env, TMBUS_LIBRARY=str(tmp_path / "nowhere" / "libtmbus.so.1"))
    proc = run([py, "-c", "import tmbus; tmbus.version()"], env=env_bad, cwd=tmp_path,
               check=False)
    assert proc.returncode == 1
    assert "tmbus._lib.LibraryNotFound: cannot load libtmbus" in proc.stderr, proc.stderr
