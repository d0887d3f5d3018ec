"""A real PostgreSQL from Debian (the host's postgresql package), started by the tests the way
the lab starts Asterisk: its own data directory and port, in a lab namespace, as the `postgres`
user, with password authentication; `close()` stops it and removes everything."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab import proc
from lab.asterisk import wait_until
from lab.netns import PROVIDER_V6, Lab
from lab.prometheus import free_port

BIN = Path("/usr/lib/postgresql/15/bin")

#: The table cel_pgsql writes to (docs/records.md): cel_pgsql fills the columns whose names are
#: CEL field names; eventtime in UTC (usegmtime = yes).
CEL_TABLE = """CREATE TABLE cel (
    id BIGSERIAL PRIMARY KEY,
    eventtype TEXT NOT NULL,
    eventtime TIMESTAMP NOT NULL,
    cid_num TEXT, cid_name TEXT, exten TEXT, context TEXT, channame TEXT,
    appname TEXT, appdata TEXT, uniqueid TEXT, linkedid TEXT, peer TEXT, extra TEXT
);
CREATE INDEX cel_linkedid ON cel (linkedid);
CREATE INDEX cel_eventtime ON cel (eventtime);
GRANT INSERT, SELECT ON cel TO asterisk;
GRANT USAGE ON SEQUENCE cel_id_seq TO asterisk;
"""


class Postgres:
    def __init__(self, lab: Lab, host: str = "provider", address: str = PROVIDER_V6) -> None:
        """A server in the lab namespace `host` listening on `address` (by default a separate
        machine beside the provider, reached over the lab's routed IPv6)."""
        self.lab, self.host, self.address = lab, host, address
        self.password = secrets.token_hex(16)
        self.port = 0
        self.dir = Path(tempfile.mkdtemp(prefix=f"{lab.prefix}-pg-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Postgres:
        user = pwd.getpwnam("postgres")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        data, pwfile = self.dir / "data", self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *as_postgres,
                str(BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "asterisk",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        # Password logins from anywhere in the lab (the pod's documentation addresses).
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all ::/0 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n")
        self.port = free_port(self.lab.ns(self.host))
        argv = [
            *as_postgres,
            str(BIN / "postgres"),
            "-D",
            str(data),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.address}",
            "-c",
            f"unix_socket_directories={self.dir}",
        ]
        self.process = proc.spawn(self.lab.netns_exec(self.host, argv), self.dir / "server.log")
        wait_until(self._ready, 30, interval=0.2, what="PostgreSQL to accept connections")
        self.sql("CREATE DATABASE asterisk", database="postgres")
        self.sql(CEL_TABLE)
        return self

    def _ready(self) -> bool:
        argv = [str(BIN / "pg_isready"), "-h", self.address, "-p", str(self.port)]
        done = subprocess.run(
            self.lab.netns_exec(self.host, argv), capture_output=True, check=False
        )
        return done.returncode == 0

    def sql(self, statement: str, database: str = "asterisk") -> str:
        """Run SQL as `asterisk` over TCP (password auth); unaligned output."""
        argv = [
            "psql",
            "-h",
            self.address,
            "-p",
            str(self.port),
            "-U",
            "asterisk",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            statement,
        ]
        done = subprocess.run(
            self.lab.netns_exec(self.host, argv),
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PGPASSWORD": self.password},
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def close(self) -> None:
        proc.stop(self.process, 10)
        shutil.rmtree(self.dir, ignore_errors=True)
