"""Call-time safety for rendered dialplan: what a caller dials never reaches an application
argument unfiltered (docs/callsafety.md).

Asterisk substitutes `${...}` before an application splits its arguments, so a dialled
`0301&PJSIP/+1900@provider` in `Dial(PJSIP/${EXTEN}@provider)` places a second call, and a `,`
adds options. Every extension whose applications use the dialled number therefore starts with:

1. `Set(UNSAFE_REST=${REPLACE(EXTEN,<allowed>)})`: what was dialled beyond the allowed characters.
   REPLACE takes the variable's *name*, so the caller's text never stands inside a function's
   parentheses (there a `)` and `:` would move the function's end and add an offset; FILTER and
   LEN are fooled that way, checked on Asterisk 22).
2. `ExecIf($[${FIELDQTY(UNSAFE_REST,-)} > 0]?Hangup(28))`: anything left over refuses the call
   with cause 28, "invalid number format" (SIP 484), never routes it as something else.
   FIELDQTY also takes a name, and answers a number.
3. `Set(SAFE_NUMBER=${FILTER(<allowed>,${EXTEN})})`: the value the applications use. FILTER's
   result holds only allowed characters whatever it is given; this is what the dialplan checker
   (`callcheck.py`) can prove of the rendered text, independently of step 2.

Other dialplan uses the same helpers: `guarded()` for the lines, `safe()` for the reference,
`filtered()` for a value that is kept to some characters but not refused (a caller ID).
"""

from __future__ import annotations

from typing import Final

#: Digits: every number has them.
DIGITS: Final = "0123456789"
#: Characters a dialled number may carry besides digits, when the route's pattern admits them.
NUMBER_EXTRAS: Final = "*#+"
#: What a doorbell (or another device that dials names) may send: letters too.
LETTERS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Variables whose value the dialplan checker accepts in an application argument carry this
#: prefix; it refuses any write to them but a filtered one.
SAFE_PREFIX: Final = "SAFE_"
#: The project's own variable namespaces (this module's, and the call flows' counters and dates):
#: the checker proves them clean by refusing any write to them of a value not proven clean.
OWN_PREFIXES: Final = (SAFE_PREFIX, "FLOW_")
#: The caller's leftover characters (never read by value: only counted by name).
REST: Final = "UNSAFE_REST"
#: The dialled number, filtered.
NUMBER: Final = f"{SAFE_PREFIX}NUMBER"
#: Q.850 cause 28, invalid number format: chan_pjsip answers 484 Address Incomplete.
REFUSED_CAUSE: Final = 28


def route_characters(pattern: str) -> str:
    """The characters a number dialled on `pattern` may hold: digits, plus each of `*#+` the
    pattern itself names (a `.` or `!` admits anything; the number may not)."""
    return DIGITS + "".join(c for c in NUMBER_EXTRAS if c in pattern)


def guarded(allowed: str, source: str = "EXTEN", into: str | None = NUMBER) -> list[str]:
    """The applications that refuse a `source` holding anything but `allowed` characters (cause
    28) and put the filtered value into `into` (a `SAFE_` variable; None: the value is not
    used, only checked). `allowed`: literal characters from `[0-9A-Za-z*#+]` (no ranges,
    nothing the dialplan treats specially)."""
    _check(allowed, into)
    apps = [
        f"Set({REST}=${{REPLACE({source},{allowed})}})",
        f"ExecIf($[${{FIELDQTY({REST},-)}} > 0]?Hangup({REFUSED_CAUSE}))",
    ]
    if into is not None:
        apps.append(f"Set({into}=${{FILTER({allowed},${{{source}}})}})")
    return apps


def filtered(source: str, allowed: str, into: str) -> str:
    """`Set(into=${FILTER(allowed,${source})})`: a caller's value (`source`, a variable or a
    function such as `CALLERID(num)`) kept to `allowed` characters, without refusing the call:
    for values that may legitimately hold others (a caller ID name, a number from a trunk)."""
    _check(allowed, into)
    return f"Set({into}=${{FILTER({allowed},${{{source}}})}})"


def _check(allowed: str, into: str | None) -> None:
    if not allowed or not set(allowed) <= set(DIGITS + LETTERS + NUMBER_EXTRAS):
        raise ValueError(f"not a set of plain characters: {allowed!r}")
    if into is not None and not into.startswith(SAFE_PREFIX):
        raise ValueError(f"{into} must start with {SAFE_PREFIX}")


def safe(variable: str = NUMBER, skip: int = 0) -> str:
    """A reference to a filtered variable, without its first `skip` characters."""
    return f"${{{variable}:{skip}}}" if skip else f"${{{variable}}}"
