"""Settings: built once from the command line (see cli/run.py), frozen, passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from supervisor.httpaccess import HttpAllow
from supervisor.mail import ENQUEUE_SCRIPT
from supervisor.process.asterisk import RestartPolicy
from supervisor.process.hang import DEFAULT_HANG_TIMEOUT_S
from supervisor.render import Directories, RenderContext


class Mode(StrEnum):
    ENTRYPOINT = "entrypoint"  # we start and supervise Asterisk as our child
    SIDECAR = "sidecar"  # Asterisk runs in another container; we render and talk AMI


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, kw_only=True)
class AsteriskPaths:
    """Asterisk's directories as Asterisk sees them, and the root they live under on our side
    (`/` in the image; the lab's chroot tree in tests)."""

    root: Path = Path("/")
    binary: PurePosixPath = PurePosixPath("/usr/sbin/asterisk")
    etc: PurePosixPath = PurePosixPath("/etc/asterisk")
    run: PurePosixPath = PurePosixPath("/var/run/asterisk")
    log: PurePosixPath = PurePosixPath("/var/log/asterisk")
    spool: PurePosixPath = PurePosixPath("/var/spool/asterisk")
    lib: PurePosixPath = PurePosixPath("/var/lib/asterisk")
    db: PurePosixPath = PurePosixPath("/var/lib/asterisk")

    @property
    def persistent(self) -> tuple[PurePosixPath, ...]:
        """What must survive a pod restart: the spool (voicemail, recordings) and astdb (phone
        registrations, per-phone settings); the Deployment mounts a PersistentVolumeClaim."""
        return tuple(dict.fromkeys((self.spool, self.db)))

    def directories(self) -> Directories:
        """The `[directories]` of the rendered asterisk.conf."""
        return Directories(
            astetcdir=str(self.etc),
            astrundir=str(self.run),
            astlogdir=str(self.log),
            astspooldir=str(self.spool),
            astvarlibdir=str(self.lib),
            astdbdir=str(self.db),
        )

    def host(self, path: PurePosixPath) -> Path:
        """Where a path Asterisk sees is on our side of the (optional) chroot."""
        return self.root / path.relative_to("/")

    @property
    def mail_queue(self) -> PurePosixPath:
        """The voicemail e-mail queue (docs/mail.md): on the spool volume, so it survives."""
        return self.spool / "supervisor" / "mail"

    @property
    def chrooted(self) -> bool:
        return self.root != Path("/")

    def argv(self) -> list[str]:
        """Asterisk in the foreground, console output to stdout, no colours."""
        return self._wrap(["-f", "-n"])

    def remote_argv(self, command: str) -> list[str]:
        """One CLI command over Asterisk's control socket (`asterisk -rx`)."""
        return self._wrap(["-rx", command])

    def _wrap(self, args: list[str]) -> list[str]:
        command = [str(self.binary), *args, "-C", str(self.etc / "asterisk.conf")]
        return ["chroot", str(self.root), *command] if self.chrooted else command


@dataclass(frozen=True, kw_only=True)
class Settings:
    mode: Mode = Mode.ENTRYPOINT
    config_dirs: tuple[Path, ...]
    secret_dirs: tuple[Path, ...] = ()
    asterisk: AsteriskPaths = field(default_factory=AsteriskPaths)
    # Set when we run as root and Asterisk must drop to this user (the lab); in the image we
    # already run as the unprivileged user and Asterisk must not try to switch.
    asterisk_user: str | None = None
    http_host: str = "::"
    http_port: int = 8080
    # Who may read /status, /metrics and any other private route (the probes answer anyone).
    http_allow: HttpAllow = field(default_factory=HttpAllow.default)
    ami_port: int = 5038
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    drain_timeout_s: float = 25.0
    stop_grace_s: float = 5.0
    address_timeout_s: float = 120.0
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    restart_deadline_s: float = 3600.0
    hang_timeout_s: float = DEFAULT_HANG_TIMEOUT_S
    debounce_s: float = 1.0
    resync_s: float = 60.0
    require_registered: bool = False
    expect_addresses: tuple[str, ...] = ()
    # app_voicemail's mailcmd script as Asterisk sees it (default: the installed package's; a
    # chrooted lab Asterisk needs a copy inside its root).
    mail_enqueue: PurePosixPath = PurePosixPath(ENQUEUE_SCRIPT)

    def render_context(self, ami_secret: str) -> RenderContext:
        """What the renderer needs besides the site: this boot's AMI secret, Asterisk's paths."""
        return RenderContext(
            ami_secret=ami_secret,
            ami_port=self.ami_port,
            directories=self.asterisk.directories(),
            run_user=self.asterisk_user,
            mail_enqueue=str(self.mail_enqueue),
            mail_queue=str(self.asterisk.mail_queue),
        )
