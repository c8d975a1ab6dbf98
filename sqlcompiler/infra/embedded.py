"""The project-managed local PostgreSQL cluster used when no DSN is given.

It listens on a unix socket in a private directory only (``listen_addresses=''``), so it is
never reachable from the network. PostgreSQL refuses to run as root; when we are root the
server runs as the ``postgres`` system user and the data lives under ``/var/lib/sqlcompiler``
(a directory that user can reach), otherwise under the user's data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ..errors import EmbeddedError

SUPERUSER = "sqlcompiler"
DATABASE = "sqlcompiler"
PORT = 5432
MAX_SOCKET_PATH = 107  # sun_path of a unix socket address on Linux, less the final NUL

# Settings for a single-machine cluster that holds demo and benchmark data: enough memory for
# the compiled statements' hash aggregates, parallel scans on both cores, and WAL sized for bulk
# loads so that a 10M-customer demo does not checkpoint every few seconds.
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "max_parallel_workers_per_gather": "2",
    "effective_cache_size": "'8GB'",
    "random_page_cost": "1.1",
    "jit": "off",
    "logging_collector": "off",
}


def default_home() -> Path:
    env = os.environ.get("SQLCOMPILER_HOME")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/sqlcompiler")
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "sqlcompiler"


def find_bindir() -> Path:
    """Where initdb and pg_ctl live: PATH, then ``pg_config --bindir``, then Debian's layout."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    raise EmbeddedError(
        "no PostgreSQL server binaries found (initdb/pg_ctl not on PATH, not in "
        "`pg_config --bindir`, not under /usr/lib/postgresql/*/bin); install them with "
        "`apt-get install postgresql` (Debian/Ubuntu) or pass --dsn / set SQLCOMPILER_DSN "
        "to use an existing server"
    )


@dataclass
class Cluster:
    """A PostgreSQL cluster in ``home`` managed by this project."""

    home: Path
    settings: dict[str, str] = field(default_factory=dict)  # on top of SERVER_SETTINGS

    @classmethod
    def default(cls) -> Cluster:
        return cls(default_home() / "embedded")

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    def dsn(self, dbname: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=PORT, user=SUPERUSER, dbname=dbname
        )

    # -- running the server binaries ---------------------------------------------------------
    def _server_user(self) -> str | None:
        """The OS user the server runs as, or None for the current user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedError(
                "PostgreSQL refuses to run as root and there is no `postgres` system user to "
                "run it as; run sqlcompiler as a normal user, create the user "
                "(`apt-get install postgresql` does), or pass --dsn"
            ) from exc
        return "postgres"

    def _cmd(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        name = Path(args[0]).name
        user = self._server_user()
        if user:
            args = ["runuser", "-u", user, "--", *args]
        proc = subprocess.run(args, capture_output=True, text=True, cwd="/")
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit code {proc.returncode}"
            cause = self._log_cause()
            raise EmbeddedError(
                f"{name} failed: {tail}"
                + (f"; the server log says: {cause}" if cause else "")
                + f" (log: {self.logfile})"
            )
        return proc

    def _log_cause(self) -> str | None:
        """The last FATAL/PANIC/ERROR line of the server log: the cause pg_ctl only points to."""
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()[-50:]
        except OSError:
            return None
        found = [ln.strip() for ln in lines if any(w in ln for w in ("FATAL", "PANIC", "ERROR"))]
        return found[-1] if found else None

    def _check_home(self) -> None:
        """Refuse early, with the reason, what would fail later inside initdb or pg_ctl."""
        socket = self.socket_dir / f".s.PGSQL.{PORT}"
        if len(str(socket).encode()) > MAX_SOCKET_PATH:
            raise EmbeddedError(
                f"the embedded cluster's directory {self.home} (under SQLCOMPILER_HOME) is too "
                "long: the server's unix socket path "
                f"{socket} would be {len(str(socket).encode())} bytes, the limit is "
                f"{MAX_SOCKET_PATH}; choose a shorter directory"
            )
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            probe = self.home / ".write-test"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise EmbeddedError(
                f"cannot use the embedded cluster's directory {self.home} (under "
                f"SQLCOMPILER_HOME): {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else "")
                + "; set SQLCOMPILER_HOME to a writable directory, or pass --dsn"
            ) from None

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        os.chmod(self.home, 0o700)
        os.chmod(self.socket_dir, 0o700)
        user = self._server_user()
        if user:
            ent = pwd.getpwnam(user)
            for path in (self.home, self.socket_dir):
                os.chown(path, ent.pw_uid, ent.pw_gid)
            # The server user must be able to reach home through its parents.
            for parent in self.home.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    raise EmbeddedError(
                        f"{parent} is not reachable by the `{user}` user that runs the embedded "
                        "server; set SQLCOMPILER_HOME to a directory under a world-traversable "
                        "path (e.g. /var/lib/sqlcompiler)"
                    )

    # -- lifecycle ---------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        bindir = find_bindir()
        proc = self._cmd([str(bindir / "pg_ctl"), "status", "-D", str(self.datadir)], check=False)
        return proc.returncode == 0

    def init(self) -> None:
        bindir = find_bindir()
        self._prepare_dirs()
        self._cmd(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        settings = {**SERVER_SETTINGS, **self.settings}
        settings["unix_socket_directories"] = "'" + str(self.socket_dir).replace("'", "''") + "'"
        settings["port"] = str(PORT)
        conf = "\n".join(f"{k} = {v}" for k, v in settings.items())
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n# added by sqlcompiler embedded\n" + conf + "\n")

    def start(self) -> None:
        bindir = find_bindir()
        self._prepare_dirs()
        self._cmd(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                # crash recovery after an unclean shutdown replays up to max_wal_size of WAL
                "600",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
            ]
        )

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server (``mode``: pg_ctl's fast, smart or immediate); False when it was
        not running."""
        if not self.is_running():
            return False
        bindir = find_bindir()
        self._cmd([str(bindir / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.datadir)])
        return True

    def ensure(self) -> str:
        """Initialise and start on demand; return the DSN of the project database."""
        self._check_home()
        with open(self.home / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.is_initialised():
                self.init()
            if not self.is_running():
                self.start()
            with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if not exists:
                    conn.execute(
                        psycopg.sql.SQL("CREATE DATABASE {}").format(
                            psycopg.sql.Identifier(DATABASE)
                        )
                    )
        return self.dsn()

    def status(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "initialised": self.is_initialised(),
            "running": self.is_running(),
            "dsn": self.dsn(),
            "log": str(self.logfile),
        }
