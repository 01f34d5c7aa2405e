"""A throw-away PostgreSQL cluster for tests, from Debian's `postgresql` binaries.

`initdb` refuses to run as root, so as root the cluster belongs to the `postgres` system user (commands through
`runuser`); the data directory and the unix socket live in one temporary directory, the server listens on a free
loopback port and trusts local connections. Tests skip with the reason when the binaries (or the user) are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster, yield a SQLAlchemy URL of an empty database `kb`, stop and delete the cluster after."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.skip("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to own a test cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        # The cluster's owner may not be allowed into the working directory (a checkout under /root).
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120, cwd=root)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "kb", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {root} -h 127.0.0.1 -F -c max_connections=60"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "kb", "kb")
            yield f"postgresql+psycopg://kb@127.0.0.1:{port}/kb"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
