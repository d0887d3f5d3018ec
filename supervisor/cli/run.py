"""`asterisk-supervisor run`: the container entrypoint."""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath
from typing import Any

from supervisor.cli.options import add_secrets
from supervisor.httpaccess import DEFAULT_ALLOW, HttpAllow
from supervisor.process.asterisk import RestartPolicy
from supervisor.settings import AsteriskPaths, LogFormat, Mode, Settings

# Every default below is the Settings' own (typed once, there).
DEFAULT = Settings(config_dirs=())
PATHS = DEFAULT.asterisk
RESTART = DEFAULT.restart
# The --asterisk-NAME options, one per AsteriskPaths field but the root.
PATH_OPTIONS = ("binary", "etc", "run", "log", "spool", "lib", "db")


def parse_listen(value: str) -> tuple[str, int]:
    """`[::]:8080`, `127.0.0.1:8080` or `:8080` → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "::"
    return host, int(port)


def http_network(value: str) -> str:
    """A network for --http-allow, checked here so a typo is a usage error, not a start-up one."""
    try:
        HttpAllow.parse([value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run as the container entrypoint: render, start and supervise Asterisk",
        description=(
            "Load the site from the config directories (kubelet ConfigMap mounts or plain "
            "directories) and the secret directories, render Asterisk's configuration, wait for "
            "the pod's addresses, start Asterisk (entrypoint mode) and supervise it; reload on "
            "config changes; serve /healthz, /readyz, /status and /metrics; on SIGTERM stop "
            "taking calls, let active calls finish until the drain deadline, then stop."
        ),
    )
    p.add_argument(
        "--config",
        action="append",
        type=Path,
        required=True,
        metavar="DIR",
        help="site config directory (repeatable)",
    )
    add_secrets(p)
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=DEFAULT.mode.value,
        help=f"entrypoint: start Asterisk as our child; sidecar: Asterisk runs in another "
        f"container, we render into the shared config volume (default {DEFAULT.mode.value})",
    )
    p.add_argument(
        "--http-listen",
        type=parse_listen,
        default=(DEFAULT.http_host, DEFAULT.http_port),
        metavar="HOST:PORT",
        help=f"probes, status and metrics (default [{DEFAULT.http_host}]:{DEFAULT.http_port})",
    )
    p.add_argument(
        "--http-allow",
        action="append",
        type=http_network,
        default=None,
        metavar="CIDR",
        help="a network that may read /status and /metrics (repeatable; replaces the default "
        f"{' '.join(DEFAULT_ALLOW)}); /healthz and /readyz answer any address",
    )
    p.add_argument(
        "--log-format", choices=[f.value for f in LogFormat], default=DEFAULT.log_format.value
    )
    p.add_argument(
        "--log-level", default=DEFAULT.log_level, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    p.add_argument(
        "--drain-timeout",
        type=positive,
        default=DEFAULT.drain_timeout_s,
        metavar="SECONDS",
        help=f"on SIGTERM, how long active calls may continue (default "
        f"{DEFAULT.drain_timeout_s:g}; set terminationGracePeriodSeconds a few seconds above it)",
    )
    p.add_argument(
        "--address-timeout",
        type=positive,
        default=DEFAULT.address_timeout_s,
        metavar="SECONDS",
        help="how long to wait at start-up for the required addresses "
        f"(default {DEFAULT.address_timeout_s:g})",
    )
    p.add_argument(
        "--expect-address",
        action="append",
        default=[],
        metavar="ADDR",
        help="override the site's expected addresses (repeatable)",
    )
    p.add_argument(
        "--require-registered",
        action="store_true",
        help="readiness also requires every trunk to be registered",
    )
    p.add_argument(
        "--max-restarts",
        type=int,
        default=RESTART.max_restarts,
        help="Asterisk crashes tolerated within --restart-window before we exit "
        f"(default {RESTART.max_restarts})",
    )
    p.add_argument(
        "--restart-window",
        type=positive,
        default=RESTART.window_s,
        metavar="SECONDS",
        help=f"the window --max-restarts counts crashes in (default {RESTART.window_s:g})",
    )
    p.add_argument(
        "--hang-timeout",
        type=positive,
        default=DEFAULT.hang_timeout_s,
        metavar="SECONDS",
        help="an Asterisk that answers neither AMI nor its control socket for this long is "
        f"declared hung, killed and restarted (default {DEFAULT.hang_timeout_s:g})",
    )
    p.add_argument(
        "--restart-deadline",
        type=positive,
        default=DEFAULT.restart_deadline_s,
        metavar="SECONDS",
        help="a change that needs an Asterisk restart waits for a moment with no "
        f"calls, at most this long (default {DEFAULT.restart_deadline_s:g})",
    )
    p.add_argument(
        "--debounce",
        type=positive,
        default=DEFAULT.debounce_s,
        metavar="SECONDS",
        help="quiet time after a config change before applying it "
        f"(default {DEFAULT.debounce_s:g})",
    )
    p.add_argument(
        "--resync",
        type=positive,
        default=DEFAULT.resync_s,
        metavar="SECONDS",
        help=f"re-read the config this often even without events (default {DEFAULT.resync_s:g})",
    )
    a = p.add_argument_group("Asterisk paths (as Asterisk sees them)")
    a.add_argument(
        "--asterisk-root",
        type=Path,
        default=PATHS.root,
        help=f"run Asterisk chrooted into this tree (tests and the demo; default {PATHS.root})",
    )
    what = {"etc": "where the rendered config goes"}
    for name in PATH_OPTIONS:
        default = getattr(PATHS, name)
        a.add_argument(
            f"--asterisk-{name}",
            default=str(default),
            help=f"{what[name]} (default {default})" if name in what else f"(default {default})",
        )
    a.add_argument(
        "--asterisk-user", default=None, help="when started as root, the user Asterisk switches to"
    )
    a.add_argument(
        "--mail-enqueue",
        default=str(DEFAULT.mail_enqueue),
        metavar="PATH",
        help="app_voicemail's mailcmd script (docs/mail.md; default: the installed package's)",
    )
    p.set_defaults(handler=handle)


def settings_from(args: argparse.Namespace) -> Settings:
    host, port = args.http_listen
    return Settings(
        mode=Mode(args.mode),
        config_dirs=tuple(args.config),
        secret_dirs=tuple(args.secrets or ()),
        asterisk=AsteriskPaths(
            root=args.asterisk_root,
            **{name: PurePosixPath(getattr(args, f"asterisk_{name}")) for name in PATH_OPTIONS},
        ),
        asterisk_user=args.asterisk_user,
        http_host=host,
        http_port=port,
        http_allow=HttpAllow.parse(args.http_allow or DEFAULT_ALLOW),
        log_format=LogFormat(args.log_format),
        log_level=args.log_level,
        drain_timeout_s=args.drain_timeout,
        address_timeout_s=args.address_timeout,
        expect_addresses=tuple(args.expect_address),
        require_registered=args.require_registered,
        restart=RestartPolicy(max_restarts=args.max_restarts, window_s=args.restart_window),
        restart_deadline_s=args.restart_deadline,
        hang_timeout_s=args.hang_timeout,
        debounce_s=args.debounce,
        resync_s=args.resync,
        mail_enqueue=PurePosixPath(args.mail_enqueue),
    )


def handle(args: argparse.Namespace) -> int:
    # The composition root is imported only when it runs: `check` and `render` stay light.
    from supervisor.runner import main as run_supervisor

    return run_supervisor(settings_from(args))
