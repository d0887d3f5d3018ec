"""Every bound on what a site may hold, with the reason for it (docs/configuration.md lists them).

The limits make the worst site they allow cheap to check (bench/bench_limits.py measures it):
each step of loading is linear or n log n in the bytes read, and the bytes are bounded here.
A site over a limit is refused with a located problem (`file:line: key: message`), never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisor.tls.limits import (
    MAX_CERT_PEM_BYTES as MAX_CERT_PEM_BYTES,
)
from supervisor.tls.limits import MAX_CHAIN as MAX_CHAIN
from supervisor.tls.limits import MAX_KEY_PEM_BYTES as MAX_KEY_PEM_BYTES
from supervisor.tls.limits import RSA_BITS as RSA_BITS

KiB = 1024
MiB = 1024 * KiB

# Mounts and files.
MAX_DIRS = 8
MAX_ENTRIES_PER_DIR = 20_000
MAX_FILE_BYTES = 1 * MiB
MAX_DIR_BYTES = 4 * MiB
MAX_SITE_FILES = 16
MAX_SITE_BYTES = 3 * MiB
MAX_SYMLINK_HOPS = 40

# YAML.
MAX_DEPTH = 16
MAX_SCALAR_CHARS = 65_536
MAX_KEY_CHARS = 256
MAX_COLLECTION = 10_000
MAX_INT_DIGITS = 18

# TLS material from the Secret: supervisor/tls/limits.py owns it (imported above).

# Identify.
MAX_IDENTIFY_TOTAL = 100_000
DIAL_OUT_PREFIX = {4: 24, 6: 48}
ANY_IDENTIFY_PREFIX = {4: 16, 6: 32}
#: Addresses that may call out without a password, all entries together (256 LANs).
MAX_DIAL_OUT_ADDRESSES = {4: 256 << 8, 6: 256 << 80}

# Reporting: past this many problems the rest are counted, not listed.
MAX_PROBLEMS = 1000

# The AMI connection to Asterisk (supervisor/ami/protocol.py).
MAX_AMI_MESSAGE_BYTES = 1 * MiB
MAX_AMI_GREETING_BYTES = 256

# Audio files of the site (supervisor/site/audio.py).
MAX_AUDIO_BYTES = 4 * MiB
MAX_AUDIO_DIR_BYTES = 16 * MiB
MAX_AUDIO_FILES = 64
MAX_AUDIO_SECONDS = 300.0
MAX_AUDIO_CHUNKS = 32

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
        "bytes of a certificate (chain) or CA bundle in the Secret",
        f"{MAX_CERT_PEM_BYTES // KiB} KiB",
        "ten certificates with 8192-bit keys and many names fit; read before parsing",
    ),
    Limit(
        "certificates in a chain or CA bundle",
        f"{MAX_CHAIN}",
        "a chain is 2-4 certificates; a bundle of a whole trust store belongs in the image "
        "(a verifying trunk without ca_secret uses /etc/ssl/certs)",
    ),
    Limit(
        "bytes of a private key in the Secret",
        f"{MAX_KEY_PEM_BYTES // KiB} KiB",
        "an 8192-bit RSA key is 6.4 KB of PEM; read before parsing",
    ),
    Limit(
        "RSA key size of a tls transport",
        f"{RSA_BITS[0]} to {RSA_BITS[1]} bits",
        "OpenSSL (security level 2) refuses smaller keys; larger ones cost seconds to minutes "
        "per handshake and per check (cert-manager issues at most 8192)",
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
        "addresses in all identify entries (typed and raw) whose context can call out",
        "65,536 IPv4 (256 networks of /24) and 2^88 IPv6 (256 of /48), overlaps merged",
        "the per-entry limit alone is defeated by many entries (1,024 endpoints with 64 /24s "
        "each cover a /8); 256 office LANs is more than one PBX serves; more devices need "
        "passwords",
    ),
    Limit(
        "any other identify (trunks, endpoints that cannot call out)",
        f"/{ANY_IDENTIFY_PREFIX[4]} (IPv4), /{ANY_IDENTIFY_PREFIX[6]} (IPv6) or narrower",
        "the largest provider allocations; wider networks mean the whole internet can "
        "pose as the provider",
    ),
    Limit(
        "problems listed for one site",
        f"{MAX_PROBLEMS:,}",
        "more would bury the first ones; the rest are counted in a last line",
    ),
    Limit(
        "bytes of one AMI message from Asterisk",
        f"{MAX_AMI_MESSAGE_BYTES // MiB} MiB",
        "far above any event or list item; a peer that sends more is disconnected and counted "
        '(asterisk_supervisor_ami_protocol_errors_total{reason="message_too_large"})',
    ),
    Limit(
        "bytes before the AMI greeting line",
        f"{MAX_AMI_GREETING_BYTES}",
        "the greeting is one short line; a peer that sends anything else is not Asterisk "
        '(reason="not_ami")',
    ),
    Limit(
        "bytes of one audio file",
        f"{MAX_AUDIO_BYTES // MiB} MiB",
        "a ConfigMap holds at most 1 MiB; 4 MiB is over two minutes at 16 kHz (a file on the "
        "volume); read with this bound before its header is looked at",
    ),
    Limit(
        "bytes of the audio files of one config directory",
        f"{MAX_AUDIO_DIR_BYTES // MiB} MiB",
        "they are held in memory to be checked and hashed at every change",
    ),
    Limit(
        "audio files in all config directories",
        f"{MAX_AUDIO_FILES}",
        "greetings, prompts and hold tracks of a small office; each is checked at every change",
    ),
    Limit(
        "length of one audio file",
        f"{MAX_AUDIO_SECONDS:.0f} s",
        "a greeting lasts seconds; a longer hold loop is several files of one class",
    ),
    Limit(
        "chunks of a WAV file before its audio",
        f"{MAX_AUDIO_CHUNKS}",
        "a WAV has 2 to 5; a file with more is not a recording",
    ),
    Limit(
        "bytes in one line of a raw snippet",
        f"{MAX_RAW_LINE_BYTES}",
        "Asterisk silently skips a config line longer than 8190 bytes",
    ),
)


#: How input is read and what is refused whatever the field (docs/configuration.md lists them).
RULES: tuple[str, ...] = (
    "YAML: plain values follow the YAML 1.2 core schema only where YAML 1.1 reads them the "
    "same way: `null`/`~`/empty, `true`/`false`, plain decimal integers and decimals. Every "
    "other form either version reads as a number, boolean, null or date (`011704`, `0x1e`, "
    "`0o17`, `1_000`, `1:30`, `1e3`, `.inf`, `yes`, `on`, `y`, `2024-01-01`) is refused as "
    "ambiguous: quote it. Keys are kept as written (`0301:` is the text 0301).",
    "YAML: anchors, aliases (also as keys), merge keys (`<<`) and tags on any node (`!!set`, "
    "`!!python/object:...`, `!foo`, even `!!str`) are refused; one document per file.",
    "IP fields (the pod's addresses, trunk hosts and from_domain, identify, security.allow) are "
    "parsed and written back in canonical form, never as typed. Refused: zone IDs (`%eth0`), "
    "and addresses no pod or peer can hold: unspecified, loopback, multicast, link-local, "
    "site-local, IPv4-mapped and IPv4-compatible IPv6, 0.0.0.0/8, 240.0.0.0/4, broadcast.",
    "Every rendered file is read back with Asterisk's own rules; if any value would change "
    "its structure (a section, an option, a comment, a directive), the site is refused at the "
    "field it comes from and nothing is written.",
    "Raw snippets are read with the same rules: lines end at `\\n` only; refused are "
    "characters that are not printable (CR, VT, FF, U+0085, U+2028...; a tab is allowed), "
    "`#include`/`#tryinclude`/`#exec`, block comments (`;--` anywhere in a line), options "
    "before the first section, and sections generated from the model (also as templates).",
    "Problems are printed one per line as `file:line: key: message`, every part escaped.",
)
