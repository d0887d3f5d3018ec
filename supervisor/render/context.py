"""What the renderer needs besides the site: where Asterisk's directories are, the supervisor's own
AMI credentials, and what the process runs (run user, Prometheus over HTTP)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from supervisor.site.grammar import NAME_RE, password_problem

#: A path the rendered `mailcmd` (a shell command line) can hold without quoting.
PLAIN_PATH_RE = re.compile(r"/[A-Za-z0-9_./+-]*")


@dataclass(frozen=True, kw_only=True)
class Directories:
    """asterisk.conf `[directories]` as Asterisk sees them (defaults: Debian's packages)."""

    astetcdir: str = "/etc/asterisk"
    astmoddir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    astvarlibdir: str = "/var/lib/asterisk"
    astdbdir: str = "/var/lib/asterisk"
    astkeydir: str = "/var/lib/asterisk"
    astdatadir: str = "/usr/share/asterisk"
    astagidir: str = "/usr/share/asterisk/agi-bin"
    astspooldir: str = "/var/spool/asterisk"
    astrundir: str = "/var/run/asterisk"
    astlogdir: str = "/var/log/asterisk"
    astsbindir: str = "/usr/sbin"

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Directories:
        """From a `{astetcdir: ..., ...}` mapping (unknown keys are an error)."""
        return cls(**dict(values))

    def items(self) -> list[tuple[str, str]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]


@dataclass(frozen=True, kw_only=True)
class Prometheus:
    """res_prometheus served by Asterisk's HTTP server at http://bind:port/metrics."""

    bind: str = "127.0.0.1"
    port: int = 8088


@dataclass(frozen=True, kw_only=True)
class RenderContext:
    """Everything but the site; `ami_secret` is generated per boot and never printed."""

    ami_secret: str = field(repr=False)
    ami_username: str = "supervisor"
    ami_port: int = 5038
    directories: Directories = field(default_factory=Directories)
    run_user: str | None = None
    prometheus: Prometheus | None = None
    rtp_start: int = 10000
    rtp_end: int = 20000
    #: app_voicemail's mailcmd runs `/bin/sh mail_enqueue QUEUE MAX MAX_BYTES` (docs/mail.md):
    #: both paths as Asterisk sees them.
    mail_enqueue: str = "/usr/share/asterisk-supervisor/enqueue.sh"
    mail_queue: str = "/var/spool/asterisk/supervisor/mail"

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.ami_username):
            raise ValueError("ami_username must be a name (letters, digits, _.-)")
        problem = password_problem(self.ami_secret)
        if problem is not None:
            raise ValueError(f"ami_secret {problem}")
        if self.run_user is not None and not NAME_RE.fullmatch(self.run_user):
            raise ValueError("run_user must be a user name")
        for name, value in self.directories.items():
            if not value.startswith("/") or not value.isprintable() or ";" in value:
                raise ValueError(f"directory {name} must be an absolute path")
        for name, value in (("mail_enqueue", self.mail_enqueue), ("mail_queue", self.mail_queue)):
            if not PLAIN_PATH_RE.fullmatch(value):
                raise ValueError(f"{name} must be an absolute path of letters, digits and _./+-")
        if not 0 < self.rtp_start < self.rtp_end <= 65535:
            raise ValueError("rtp_start..rtp_end must be a port range")
