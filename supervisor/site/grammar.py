"""The grammar of every kind of value that reaches an Asterisk config file.

Asterisk's config parser ends a value at a newline, starts a comment at `;`, a section at a `[`
that opens a line, and an include at a `#` that opens one; it trims spaces around values. The
dialplan additionally treats `,` `(` `)` `"` `\\` and `${...}` specially. So each kind of value has
a grammar that admits none of that, except passwords, whose `;` the renderer escapes.
"""

from __future__ import annotations

import re
import socket
from typing import Annotated

from pydantic import AfterValidator, Strict

from supervisor.site import ipnet
from supervisor.site.limits import ANY_IDENTIFY_PREFIX

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
SIP_USER_RE = re.compile(r"[A-Za-z0-9_.+~!*'-]{1,64}")
DID_RE = re.compile(r"\+?[0-9]{1,20}")
# Not '#' first: a voicemail box is numbered by an extension, and voicemail.conf reads a line
# `#11 => ...` as a directive (#include, #exec), not as box 11.
EXTENSION_RE = re.compile(r"[0-9*][0-9*#]{0,19}")
PATTERN_RE = re.compile(r"_(?:[0-9*#+XZN]|\[(?:[0-9](?:-[0-9])?)+\])+[.!]?")
PREFIX_RE = re.compile(r"\+?[0-9*#]{0,20}")
CALLER_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._'-]{0,38}[A-Za-z0-9._'-])?")
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
SECRET_KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,253}")
# A plain address: no quotes, commas, `|` (app_voicemail's separators) or spaces.
EMAIL_RE = re.compile(r"[A-Za-z0-9_.+-]{1,64}@" + HOSTNAME_RE.pattern)
PIN_RE = re.compile(r"[0-9]{4,12}")
MAX_PASSWORD = 128


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{_show(value)} is not {what}")
        return value

    return AfterValidator(check)


IP_CHARS_RE = re.compile(r"[0-9A-Fa-f:./]{2,49}")


def _ip_text(value: str, kind: str) -> str:
    """Refuse what is not plainly an IP literal before parsing it: zone IDs (`%eth0`) would
    otherwise carry any text, and be written verbatim."""
    if "%" in value:
        raise ValueError(f"{_show(value)}: zone IDs (%...) are not allowed")
    if not IP_CHARS_RE.fullmatch(value):
        raise ValueError(f"{_show(value)} is not {kind}")
    return value


def _ip(value: str, version: int | None = None) -> str:
    kind = {4: "an IPv4 address", 6: "an IPv6 address", None: "an IP address"}[version]
    try:
        address = ipnet.parse_address(_ip_text(value, kind))
    except ValueError as exc:
        if "zone" in str(exc):
            raise
        raise ValueError(f"{_show(value)} is not {kind}") from None
    if version is not None and address.version != version:
        raise ValueError(f"{value} is an IPv{address.version} address, expected IPv{version}")
    why = ipnet.unusable(address)
    if why is not None:
        raise ValueError(f"{value} {why}")
    # Canonical form, never the user's spelling.
    return str(address)


def _network(value: str, *, identify: bool = False) -> str:
    try:
        network = ipnet.parse_network(_ip_text(value, "an IP address or network"))
    except ValueError as exc:
        if "zone" in str(exc) or "is not an IP" in str(exc):
            raise
        raise ValueError(f"{_show(value)} is not an IP address or network ({exc})") from None
    widest = ANY_IDENTIFY_PREFIX[network.version]
    if identify and network.prefixlen < widest:
        raise ValueError(
            f"{network} is wider than /{widest}: anyone in it could pose as this peer "
            f"(the limit for IPv{network.version} is /{widest})"
        )
    why = ipnet.unusable(network)
    if why is not None:
        raise ValueError(f"{network} {why}")
    return str(network)


# Names every pod's /etc/hosts maps (the kubelet writes them; Debian's own file has the same):
# resolved by the C library before any DNS, to the pod itself or to multicast.
HOSTS_FILE_NAMES = frozenset(
    {
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
    }
)


def _c_library_address(name: str) -> str | None:
    """The IPv4 address the C library reads `name` as (inet_aton: `0x7f.0.0.1`, `127.1`,
    `2130706433`, octal parts), or None for a real host name."""
    try:
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        return None


def _host(value: str) -> str:
    if (IP_CHARS_RE.fullmatch(value) and (":" in value or value.replace(".", "").isdigit())) or (
        "%" in value
    ):
        return _ip(value)
    if value.startswith("[") and value.endswith("]"):
        raise ValueError(f"{_show(value)}: write an IPv6 address without brackets")
    if not HOSTNAME_RE.fullmatch(value) or value.replace(".", "").isdigit():
        raise ValueError(f"{_show(value)} is neither an IP address nor a host name")
    name = value.lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise ValueError(f"{value} is the pod itself, never a peer")
    if name in HOSTS_FILE_NAMES:
        raise ValueError(
            f"{value} is in every pod's /etc/hosts as a loopback or multicast address, never a peer"
        )
    address = _c_library_address(name)
    if address is not None:
        why = ipnet.unusable(ipnet.parse_address(address))
        reason = f": {address} {why}" if why else f": write {address}"
        raise ValueError(f"{value} is not a host name: the C library reads it as {address}{reason}")
    return name


def password_problem(value: str) -> str | None:
    """Why a secret value cannot be a password in pjsip.conf, or None (`;` is escaped there)."""
    if not value:
        return "is empty"
    if len(value) > MAX_PASSWORD:
        return f"is longer than {MAX_PASSWORD} characters"
    if not value.isprintable():
        return "contains a line break or another control character"
    if value != value.strip():
        return "starts or ends with white space (Asterisk would trim it)"
    return None


def pin_problem(value: str) -> str | None:
    """Why a secret value cannot be a voicemail PIN, or None. Never shows the value."""
    if not PIN_RE.fullmatch(value):
        return "is not a PIN (4 to 12 digits)"
    return None


def escape_value(value: str) -> str:
    """A value as Asterisk's config parser must see it: `;` escaped as `\\;` (the only escape)."""
    return value.replace(";", "\\;")


Str = Annotated[str, Strict()]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]

Name = Annotated[Str, _matching(NAME_RE, "a name (letters, digits, '_', '.', '-'; at most 40)")]
SipUser = Annotated[Str, _matching(SIP_USER_RE, "a SIP user name (letters, digits, _.+~!*'-)")]
Did = Annotated[Str, _matching(DID_RE, "a phone number (digits, optionally a leading '+')")]
Extension = Annotated[
    Str,
    _matching(
        EXTENSION_RE,
        "an extension number (digits, '*', '#'; not '#' first)",
    ),
]
Pattern = Annotated[
    Str,
    _matching(
        PATTERN_RE,
        "a dial pattern ('_' then digits, X, Z, N, [0-9] classes, optionally ending in . or !)",
    ),
]
Prefix = Annotated[Str, _matching(PREFIX_RE, "a digit prefix (digits, '*', '#', leading '+')")]
CallerName = Annotated[
    Str, _matching(CALLER_NAME_RE, "a caller ID name (letters, digits, space, ._'-; at most 40)")
]
Email = Annotated[Str, _matching(EMAIL_RE, "an e-mail address (user@host, no spaces or quotes)")]
SecretKey = Annotated[Str, _matching(SECRET_KEY_RE, "a Secret key name (letters, digits, _.-)")]
IPv6 = Annotated[Str, AfterValidator(lambda v: _ip(v, 6))]
IPv4 = Annotated[Str, AfterValidator(lambda v: _ip(v, 4))]
Host = Annotated[Str, AfterValidator(_host)]
Network = Annotated[Str, AfterValidator(_network)]
#: A pjsip option name (checked against Asterisk's documentation by `site/options.py`) and its
#: value: one printable line, no `;` (a comment in Asterisk's config files), no edge spaces.
OptionName = Annotated[Str, _matching(re.compile(r"[a-z0-9_]{1,64}"), "a pjsip option name")]


def _option_value(value: str) -> str:
    if not value or len(value) > 255 or not value.isprintable() or value != value.strip():
        raise ValueError(
            f"{_show(value)} is not an option value (one printable line of 1 to 255 "
            "characters, no leading or trailing space)"
        )
    if ";" in value:
        raise ValueError(f"{_show(value)}: ';' starts a comment in Asterisk's config files")
    return value


OptionValue = Annotated[Str, AfterValidator(_option_value)]
#: A network whose addresses are let in without a password: no wider than ANY_IDENTIFY_PREFIX.
IdentifyNetwork = Annotated[Str, AfterValidator(lambda v: _network(v, identify=True))]


def family_of(address_or_network: str) -> str | None:
    """'ipv6' or 'ipv4' for a validated IP literal or network, None for a host name."""
    return ipnet.family_of(address_or_network)
