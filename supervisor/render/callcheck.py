"""The call-time safety checker: over a rendered extensions.conf (generated part and raw snippet),
as Asterisk reads it (`confparse`), every value a call can bring must be proven clean before it
reaches an application argument, an expression or a function's argument (docs/callsafety.md).

An allow-list, not a list of bad examples. A reference `${...}` or `$[...]` is clean when it is:

- a variable of `CLEAN_VARIABLES` (set by Asterisk to a closed set of values, or by our
  configuration), or one in the project's namespaces `callsafe.OWN_PREFIXES` (written only by
  `Set` from a clean value: a write of anything else to such a name, by any application, is
  refused, so by induction over a call such a variable only ever holds clean values);
- a function of `CLEAN_RESULTS` given clean arguments (its answer is a number, only characters
  it was told to keep, or made of its clean arguments and the server's clock); LEN's and
  FILTER's string argument are data: any value is fine there;
- DB(): astdb, which the dialplan may write only with clean values (`Set(DB(...)=...)` is
  checked like a write to our namespaces; the supervisor and the administrator write the rest);
- an expression `$[...]` over clean references only, calling no function.

Everything else (EXTEN, CALLERID(), PJSIP_HEADER(), any variable not proven clean, a function's
answer) is the caller's. It may be stored, verbatim, by `Set(NAME=...)` into a variable that is
then never clean; anywhere else it is refused.

How Asterisk substitutes (main/pbx_variables.c, checked on Asterisk 22): `${` ends at the
matching `}`, counting braces; `$[` at the matching `]`, counting brackets; the text inside is
substituted first, then split into a name, or a function name and its arguments (up to the last
`)`), and an offset. Only then does the application split its own arguments: a value containing
`,` `&` `)` `:` changes what the application, the function or the offset sees.

Values read at load time (extension names, include, switch, ignorepat, globals) have no channel
and are not checked; `exten`/`same` applications and `eswitch` (evaluated per call) are, and so
is features.conf's `[applicationmap]`, whose application arguments Asterisk substitutes on the
channel when a feature code runs (main/bridge_channel.c, run_app_helper): `check_features`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from supervisor.confparse import Header, Item, Setting
from supervisor.render.callsafe import OWN_PREFIXES

#: Variables whose value no caller chooses: Asterisk's closed sets, and what our config sets.
CLEAN_VARIABLES: Final[dict[str, str]] = {
    "DIALSTATUS": "Dial's outcome: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL, ...",
    "VMSTATUS": "VoiceMail's outcome: SUCCESS, USEREXIT, FAILED",
    "VOICEMAIL_BOX": "a phone's own box number, set by its endpoint (pjsip.conf set_var)",
    "EPOCH": "the server's clock, in seconds",
    "PHONE_ENDPOINT": "an authenticated phone's own endpoint name, set by its endpoint "
    "(pjsip.conf set_var): the feature codes' astdb key",
}
#: Functions whose answer is clean whatever their data argument holds.
CLEAN_RESULTS: Final[dict[str, str]] = {
    "LEN": "a number",
    "FIELDQTY": "a number (it takes a variable's name, never its value)",
    "FILTER": "only the characters it keeps, when those are given as plain characters",
    "ISNULL": "0 or 1",
    "EXISTS": "0 or 1",
    "IF": "one of its (clean) arguments",
    "IFTIME": "one of its (clean) arguments",
    "STRFTIME": "the server's clock in its (clean) format",
    "DB": "astdb, written by the dialplan only with clean values",
    "DB_EXISTS": "0 or 1",
}
#: Functions whose argument (LEN) or second argument (FILTER) is data: any value is safe there,
#: since the answer stays clean even where the value moves the function's end or offset.
_DATA_ARGUMENT: Final = {"LEN", "FILTER"}
#: What FILTER may be told to keep: characters that are plain in every application argument.
_PLAIN = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ*#+")
_RANGE = re.compile(r"([0-9A-Za-z])-([0-9A-Za-z])")
_IDENTIFIER = re.compile(r"_{0,2}([A-Za-z0-9_]+)")
# Tried only at the start of a word: a long run of letters costs one pass, not one per letter.
_CALL_IN_EXPRESSION = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*\s*\(")
#: A name at the start of an application argument (where applications take variables to write).
_ARGUMENT_START = re.compile(r"(?:^|[,(=&|])\s*(_{0,2}[A-Za-z0-9_]+)")
#: Deeper nesting than this is refused (Asterisk's own dialplan never needs it).
MAX_DEPTH: Final = 16
#: Problems reported per file at most (the first ones; a file over it is refused anyway).
MAX_PROBLEMS: Final = 20


@dataclass(frozen=True, slots=True)
class Unsafe:
    """A line of the dialplan where a caller's value reaches what it must not."""

    line: int
    context: str
    key: str
    message: str


@dataclass(frozen=True, slots=True)
class _Ref:
    """One `${...}` (`expression` False) or `$[...]` at [start, end) of a text, inner text."""

    start: int
    end: int
    inner: str
    expression: bool


def references(text: str) -> list[_Ref]:
    """The top-level `${...}` and `$[...]` of `text`, found as Asterisk finds them (an unclosed
    one runs to the end of the text)."""
    out = []
    size = len(text)
    i = text.find("$")
    while 0 <= i < size - 1:
        kind = text[i + 1]
        if kind not in "{[":
            i = text.find("$", i + 1)
            continue
        j, depth = i + 2, 1
        if kind == "{":
            while depth and j < size:
                c = text[j]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
        else:
            while depth and j < size:
                c = text[j]
                if c == "$" and text[j + 1 : j + 2] in ("[", "{"):
                    depth += text[j + 1] == "["
                    j += 1
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                j += 1
        inner = text[i + 2 : j - 1] if not depth else text[i + 2 : j]
        out.append(_Ref(i, j, inner, kind == "["))
        i = text.find("$", j)
    return out


def _without(text: str, refs: list[_Ref]) -> str:
    """`text` with each reference replaced by a space."""
    parts, at = [], 0
    for ref in refs:
        parts.append(text[at : ref.start])
        parts.append(" ")
        at = ref.end
    parts.append(text[at:])
    return "".join(parts)


def _shown(name: str) -> str:
    return name if len(name) <= 40 else name[:37] + "..."


def _plain_set(allowed: str) -> bool:
    """Whether FILTER's allowed characters, as written, are plain ones (ranges of them too)."""
    if not allowed or "$" in allowed or "\\" in allowed:
        return False
    expanded = _RANGE.sub(lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), allowed)
    return set(expanded) <= _PLAIN


def is_protected(name: str) -> bool:
    """A variable the checker trusts: only a clean value may be written to it."""
    bare = name.lstrip("_").upper()
    return bare.startswith(OWN_PREFIXES) or bare in CLEAN_VARIABLES


class _Analysis:
    """The taint of texts; problems collected in `problems` (where, why)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def text(self, text: str, depth: int = 0) -> bool:
        """Whether every reference in `text` is clean (problems inside them are recorded)."""
        clean = True
        for ref in references(text):
            clean &= self.reference(ref, depth + 1)
        return clean

    def sink(self, text: str, where: str, depth: int = 0) -> None:
        """`text` goes where a caller's value must not: each unclean reference is a problem."""
        for ref in references(text):
            if not self.reference(ref, depth + 1):
                self.problems.append(f"{where} {self.describe(ref)}")

    def describe(self, ref: _Ref) -> str:
        if ref.expression:
            return "takes $[...] over a value the caller controls, unfiltered"
        name = ref.inner.split("(", 1)[0].split(":", 1)[0]
        if "(" in ref.inner:
            return f"takes {_shown(name)}(), whose answer the caller controls, unfiltered"
        return f"takes ${{{_shown(name)}}}, a value the caller controls, unfiltered"

    def reference(self, ref: _Ref, depth: int) -> bool:
        if depth > MAX_DEPTH:
            self.problems.append(f"nests ${{...}} deeper than {MAX_DEPTH}")
            return False
        if ref.expression:
            return self.expression(ref.inner, depth)
        inner = ref.inner
        head = inner.split("(", 1)[0]
        if "(" not in inner or "$" in head:
            # A variable (name, then :offset:length), or a name computed from other values.
            name, _, offsets = inner.partition(":")
            if "$" in name:
                self.sink(name, "a variable name", depth)
                self.sink(offsets, "an offset", depth)
                return False
            self.sink(offsets, f"the offset of ${{{_shown(name)}}}", depth)
            bare = name.strip()
            return is_protected(bare) and not bare.startswith("_")
        return self.function(head.strip(), inner, depth)

    def function(self, name: str, inner: str, depth: int) -> bool:
        opening = inner.index("(")
        close = inner.rfind(")")
        if close < opening:
            close = len(inner)  # no closing parenthesis: the arguments run to the end
        arguments = inner[opening + 1 : close]
        self.sink(inner[close + 1 :], f"the offset of {_shown(name)}()", depth)
        upper = name.upper()
        if upper == "LEN":
            self.text(arguments, depth)  # data; calls nested in it still count
            return True
        if upper == "FILTER":
            allowed, comma, data = arguments.partition(",")
            if comma and _plain_set(allowed):
                self.text(data, depth)
                return True
        self.sink(arguments, f"{_shown(name)}()", depth)
        return upper in CLEAN_RESULTS and upper not in _DATA_ARGUMENT

    def expression(self, inner: str, depth: int) -> bool:
        refs = references(inner)
        self.sink(inner, "an expression $[...]", depth)
        if _CALL_IN_EXPRESSION.search(_without(inner, refs)):
            self.problems.append("an expression $[...] calls a function (its answer is unchecked)")
        return True


def _split_exten(value: str) -> tuple[str, str] | None:
    """(priority, application) of an `exten` value: the extension ends at the first comma outside
    `[...]` (pbx_strsep), the priority at the next comma."""
    depth = 0
    for i, c in enumerate(value):
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif c == "," and not depth:
            priority, _, app = value[i + 1 :].partition(",")
            return priority, app
    return None


def check_application(app_text: str) -> list[str]:
    """Problems of one priority's `App(data)` text (as pbx_config splits it)."""
    analysis = _Analysis()
    name, paren, rest = app_text.partition("(")
    name = name.strip()
    if not paren or "${" in name or "$[" in name:
        analysis.sink(app_text, "the application")
        return analysis.problems
    close = rest.rfind(")")
    data = rest[:close] if close >= 0 else rest
    where = f"{_shown(name)}()"
    if name.lower() == "set":
        target, equals, value = data.partition("=")
        target = target.strip()
        if equals and _IDENTIFIER.fullmatch(target) and not is_protected(target):
            analysis.text(value)  # stored verbatim; the variable is then never clean
            return analysis.problems
    analysis.sink(data, where)
    for match in _ARGUMENT_START.finditer(_without(data, references(data))):
        if is_protected(match[1]) and name.lower() != "set":
            analysis.problems.append(
                f"{where} names {_shown(match[1])}: only Set() with a clean value may write it"
            )
    return analysis.problems


def check(items: list[Item]) -> list[Unsafe]:
    """Every place in a parsed extensions.conf where a caller's value is not proven clean."""
    out: list[Unsafe] = []
    context = ""
    for item in items:
        if isinstance(item, Header):
            context = item.name
            continue
        if not isinstance(item, Setting) or context.lower() in ("general", "globals"):
            continue
        key = item.name.lower()
        if key == "exten":
            split = _split_exten(item.value)
            problems = check_application(split[1]) if split and split[0].strip() != "hint" else []
        elif key.startswith("same"):
            priority, _, app = item.value.partition(",")
            problems = check_application(app) if priority.strip() != "hint" else []
        elif key == "eswitch":
            analysis = _Analysis()
            analysis.sink(item.value, "eswitch")
            problems = analysis.problems
        else:
            continue
        out += [Unsafe(item.line, context, item.name, p) for p in dict.fromkeys(problems)]
        if len(out) >= MAX_PROBLEMS:
            return out[:MAX_PROBLEMS]
    return out


def check_features(items: list[Item]) -> list[Unsafe]:
    """Every `[applicationmap]` entry of a parsed features.conf whose text takes a caller's
    value (its application and arguments run on a caller's channel, substituted)."""
    out: list[Unsafe] = []
    context = ""
    for item in items:
        if isinstance(item, Header):
            context = item.name
        elif isinstance(item, Setting) and context.lower() == "applicationmap":
            analysis = _Analysis()
            analysis.sink(item.value, "the feature's application")
            out += [
                Unsafe(item.line, context, item.name, p) for p in dict.fromkeys(analysis.problems)
            ]
            if len(out) >= MAX_PROBLEMS:
                return out[:MAX_PROBLEMS]
    return out
