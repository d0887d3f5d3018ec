"""Every bound on what a site may hold, with the reason for it (docs/configuration.md lists them).

The limits make the worst site they allow cheap to check (bench/bench_limits.py measures it):
each step of loading is linear or n log n in the bytes read, and the bytes are bounded here.
A site over a limit is refused with a located problem (`file:line: key: message`), never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB

# Mounts and files.
MAX_DIRS = 8
MAX_ENTRIES_PER_DIR = 20_000
MAX_FILE_BYTES = 1 * MiB
MAX_DIR_BYTES = 4 * MiB
MAX_SITE_FILES = 16
MAX_SITE_BYTES = 4 * MiB
MAX_SYMLINK_HOPS = 40

# YAML.
MAX_DEPTH = 16
MAX_SCALAR_CHARS = 65_536
MAX_KEY_CHARS = 256
MAX_COLLECTION = 10_000
MAX_INT_DIGITS = 18

# Identify.
MAX_IDENTIFY_TOTAL = 100_000
DIAL_OUT_PREFIX = {4: 24, 6: 48}
ANY_IDENTIFY_PREFIX = {4: 16, 6: 32}

# Raw snippets: Asterisk skips a config line longer than 8190 bytes (its 8 KiB line buffer).
MAX_RAW_LINE_BYTES = 4096


@dataclass(frozen=True)
class Limit:
    what: str
    value: str
    reason: str


LIMITS: tuple[Limit, ...] = (
    Limit(
        "config and secret directories",
        f"{MAX_DIRS} of each",
        "each is a mount read in full at every change",
    ),
    Limit(
        "entries in one directory",
        f"{MAX_ENTRIES_PER_DIR:,}",
        "a Secret holds one key per password: 10,000 endpoints and 200 trunks fit",
    ),
    Limit(
        "bytes of one file",
        f"{MAX_FILE_BYTES // MiB} MiB",
        "Kubernetes stores a whole ConfigMap or Secret in at most 1 MiB",
    ),
    Limit(
        "bytes read from one directory",
        f"{MAX_DIR_BYTES // MiB} MiB",
        "bounds memory whatever the number of files",
    ),
    Limit(
        "site files (*.yaml, *.yml) in all config directories",
        f"{MAX_SITE_FILES}",
        "enough to split a site by team; each file's problems are reported separately",
    ),
    Limit(
        "bytes of all site files together",
        f"{MAX_SITE_BYTES // MiB} MiB",
        "the worst site this allows is checked in under 5 s (bench/reports/limits.md)",
    ),
    Limit(
        "symbolic links followed for one entry",
        f"{MAX_SYMLINK_HOPS}",
        "the kernel's own limit (ELOOP); a loop is reported, never followed",
    ),
    Limit(
        "nesting depth of YAML collections",
        f"{MAX_DEPTH}",
        "a site is at most 6 levels deep; deeper input is an attack on the parser",
    ),
    Limit(
        "characters in one YAML value",
        f"{MAX_SCALAR_CHARS:,}",
        "the largest field is a raw snippet (64 KiB)",
    ),
    Limit(
        "characters in one YAML key",
        f"{MAX_KEY_CHARS}",
        "keys are names, numbers and Secret keys (at most 253 characters)",
    ),
    Limit(
        "entries in one YAML mapping or list",
        f"{MAX_COLLECTION:,}",
        "the largest collections (endpoints, extensions) hold 10,000",
    ),
    Limit(
        "digits of a YAML integer",
        f"{MAX_INT_DIGITS}",
        "no field needs more; longer numbers would be slow to convert",
    ),
    Limit(
        "identify entries in the whole site",
        f"{MAX_IDENTIFY_TOTAL:,}",
        "the overlap check sorts them: n log n, measured in bench/reports/limits.md",
    ),
    Limit(
        "identify of an endpoint whose context can call out through a trunk",
        f"/{DIAL_OUT_PREFIX[4]} (IPv4), /{DIAL_OUT_PREFIX[6]} (IPv6) or narrower",
        "whoever holds an address in it places calls on the site's bill without a password: "
        "a LAN or one customer's site at most, never the internet",
    ),
    Limit(
        "any other identify (trunks, endpoints that cannot call out)",
        f"/{ANY_IDENTIFY_PREFIX[4]} (IPv4), /{ANY_IDENTIFY_PREFIX[6]} (IPv6) or narrower",
        "the largest provider allocations; wider networks mean the whole internet can "
        "pose as the provider",
    ),
    Limit(
        "bytes in one line of a raw snippet",
        f"{MAX_RAW_LINE_BYTES}",
        "Asterisk silently skips a config line longer than 8190 bytes",
    ),
)
