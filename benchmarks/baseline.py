"""A baseline commit of this repository installed beside this checkout, for side-by-side benchmarks.

Both sides are installed the same way (a regular, non-editable install without dependencies into
a temp folder put first on PYTHONPATH: an editable install resolves every modelport import through
an extra finder, which alone costs tens of milliseconds per process), so the commands of both run
with the same pinned stack and differ only in modelport's code. Workers inherit PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def install(src: str, site: str) -> str:
    """The project at `src`, installed without dependencies into `site`; returns `site`."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", site, src], check=True, capture_output=True)
    return site


def install_baseline(ref: str, into: str) -> str:
    """`ref` of this repository, installed without dependencies into `into`/site; returns that path."""
    src = os.path.join(into, "src")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", src, ref], check=True, capture_output=True)
    try:
        return install(src, os.path.join(into, "site"))
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", src], capture_output=True)


def env_for(site: str) -> dict[str, str]:
    """The environment that runs the modelport installed in `site`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = site + os.pathsep + env.get("PYTHONPATH", "")
    return env
