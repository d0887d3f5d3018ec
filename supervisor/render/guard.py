"""The rendered-output guard: every generated config file must read back, with Asterisk's own
rules (`confparse`), as exactly the sections and options the renderer meant to write, followed by
the raw snippet as it reads on its own. Anything else (an option split by a value, a section
opened by a value, a comment that swallows text, a directive) refuses the site before any file is
written, naming the field the offending section comes from.

Messages never quote rendered text: a value may be a password.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from supervisor.confparse import Directive, Flaw, Header, Item, Setting, parse, structure
from supervisor.render import callcheck
from supervisor.render.conf import ConfText, Intended
from supervisor.site.yamlsource import Path


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where a rendered file does not read back as meant: the section and option involved;
    `in_raw` when it is in the part that comes from the raw snippet."""

    file: str
    section: str | None
    key: str | None
    message: str
    in_raw: bool = False
    call_time: bool = False
    """A caller's value would reach an application unfiltered (`callcheck`), rather than a
    file that does not read back as meant."""


def _printable(text: str) -> bool:
    return text.isprintable() or text.replace("\t", "").isprintable()


def _op(setting: Setting) -> str:
    return "+=" if setting.append else "=>" if setting.arrow else "="


def read_back(items: list[Item]) -> tuple[list[Intended], str | None]:
    """The sections found, and the first thing found that is not a section or an option."""
    sections, other = structure(items)
    trouble = None
    for item in other:
        if isinstance(item, Directive):
            trouble = f"line {item.line} is a #{item.name} directive"
        elif isinstance(item, Flaw):
            trouble = f"line {item.line}: {item.message}"
        elif isinstance(item, Setting):
            trouble = f"line {item.line} is an option before any section"
        if trouble:
            break
    found = [
        Intended(h.name, tuple((s.name, _op(s), s.value) for s in settings), h.options)
        for h, settings in sections
    ]
    return found, trouble


def _flat(sections: list[Intended]) -> list[tuple[str, ...]]:
    """Sections as one list: (name, "[", options) then each (key, operator, value)."""
    out: list[tuple[str, ...]] = []
    for section in sections:
        out.append((section.name, "[", repr(section.options)))
        out.extend(section.settings)
    return out


def _flat_items(items: list[Item]) -> tuple[list[tuple[str, ...]], str | None]:
    """What was read, in the form of `_flat`, and the first thing that is neither."""
    out: list[tuple[str, ...]] = []
    append = out.append
    trouble = None
    for item in items:
        kind = type(item)
        if kind is Setting and out:
            _, name, value, arrow, extra = item  # type: ignore[misc]
            append((name, "+=" if extra else "=>" if arrow else "=", value))
        elif kind is Header:
            append((item[1], "[", repr(item[2])))
        elif trouble is None:
            if isinstance(item, Directive):
                trouble = f"line {item.line} is a #{item.name} directive"
            elif isinstance(item, Flaw):
                trouble = f"line {item.line}: {item.message}"
            else:
                trouble = f"line {item.line} is an option before any section"
    return out, trouble


def check_file(
    name: str, generated: str, raw: str | None, items: list[Item] | None = None
) -> Mismatch | None:
    """The first way `generated` + `raw` (the appended snippet part) does not read back as the
    generated sections followed by the snippet's own sections. `items`: that text already
    parsed, if the caller has it."""
    if not isinstance(generated, ConfText) or generated.sections is None:
        return Mismatch(name, None, None, "the renderer gave no structure for it")
    sections = list(generated.sections)
    if not generated.replace("\n", "").replace("\t", "").isprintable():
        for want in sections:
            for option, _, value in want.settings:
                if not _printable(want.name + option + value):
                    # Asterisk would keep it inside the option, but it would reach SIP headers
                    # or the dialplan: no field may carry one.
                    return Mismatch(
                        name, want.name, option, "a control character or line separator"
                    )
    ours = sum(1 + len(section.settings) for section in sections)
    if raw is not None:
        sections += read_back(parse(raw))[0]
    expected = _flat(sections)
    found, trouble = _flat_items(items if items is not None else parse(generated + (raw or "")))
    if found != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
            min(len(found), len(expected)),
        )
        section: str | None = None
        key: str | None = None
        for entry in expected[: at + 1]:
            if entry[1] == "[":
                section, key = entry[0], None
            else:
                key = entry[0]
        if at >= len(expected):
            message = "a value adds lines when read back"
        elif at >= len(found):
            message = "lines are missing when read back"
        elif expected[at][1] == "[":
            message = "a section header reads back differently"
        else:
            message = "the option reads back differently"
        return Mismatch(name, section, key, message, at >= ours)
    if trouble is not None:
        return Mismatch(name, None, None, trouble, raw is not None)
    return None


def check(generated: Mapping[str, str], raw: Mapping[str, str]) -> list[Mismatch]:
    """Every file's first mismatch. `generated`: the renderer's texts (only ConfText files are
    config syntax; TLS keys and certificates are skipped); `raw`: the text appended to a file."""
    out = []
    for name, text in generated.items():
        if name not in raw and not isinstance(text, ConfText):
            continue
        # The dialplan is parsed once for both checks: it is the largest file (4 MB for 5,000
        # phones), and its parse was a quarter of render()'s time (bench/reports/render.md).
        items = parse(text + (raw.get(name) or "")) if name in CALL_TIME else None
        found = check_file(name, text, raw.get(name), items)
        if found is not None:
            out.append(found)
        elif name in CALL_TIME:
            out += check_calls(name, text, raw.get(name), items)
    return out


#: The files whose applications run on a call's channel, and their checks: the dialplan of
#: pbx_config, and features.conf's applicationmap (feature codes).
CALL_TIME: dict[str, Callable[[list[Item]], list[callcheck.Unsafe]]] = {
    "extensions.conf": callcheck.check,
    "features.conf": callcheck.check_features,
}


def check_calls(
    name: str, generated: str, raw: str | None, items: list[Item] | None = None
) -> list[Mismatch]:
    """Where `name` (generated + raw) lets a caller's value reach an application, an
    expression or a function unfiltered (`callcheck`), each with its line (in the raw snippet:
    its own line number, counted after the marker line the renderer puts before it)."""
    ours = generated.count("\n")
    marker = _marker(raw) if raw else None
    lead = raw.split("\n").index(marker) + 1 if raw and marker else 0
    out = []
    if items is None:
        items = parse(generated + (raw or ""))
    for found in CALL_TIME[name](items):
        in_raw = found.line > ours
        where = (
            f"line {found.line - ours - lead} of the raw snippet"
            if in_raw
            else f"line {found.line}"
        )
        out.append(
            Mismatch(
                name,
                found.context,
                found.key,
                f"{where}: {found.message}",
                in_raw=in_raw,
                call_time=True,
            )
        )
    return out


def _marker(raw: str) -> str | None:
    """The comment line that introduces a raw snippet, if `raw` has one."""
    return next((line for line in raw.split("\n") if line.startswith("; ---- raw")), None)


# Option keys of a rendered section -> the field of the site entry they come from.
_TRUNK_FIELDS = {
    "contact": "hosts",
    "server_uri": "hosts",
    "client_uri": "hosts",
    "outbound_proxy": "hosts",
    "from_user": "from_user",
    "from_domain": "from_domain",
    "username": "auth",
    "password": "auth",
    "contact_user": "auth",
    "match": "identify",
}
_ENDPOINT_FIELDS = {
    "username": "auth",
    "password": "auth",
    "match": "identify",
    "context": "context",
}


def source_of(mismatch: Mismatch, trunks: set[str], endpoints: set[str]) -> Path:
    """The site key path a mismatching section (and option) comes from, as near as known."""
    name, key = mismatch.section, mismatch.key
    if mismatch.in_raw:
        return ("raw", mismatch.file)
    if name is None:
        return ()
    if mismatch.file == "pjsip.conf":
        if name in trunks:
            field = _TRUNK_FIELDS.get(key or "")
            return ("trunks", name, field) if field else ("trunks", name)
        if name in endpoints:
            field = _ENDPOINT_FIELDS.get(key or "")
            return ("endpoints", name, field) if field else ("endpoints", name)
        if key == "user_agent":
            return ("user_agent",)
        return ("transports", name)
    if mismatch.file == "extensions.conf":
        if name.startswith("from-") and name[5:] in trunks:
            return ("trunks", name[5:], "dids")
        if name.startswith("ring-"):
            return ("dialplan", "ring_groups", name[5:])
        return ("dialplan", name) if name in ("extensions", "outbound", "doorbell") else ()
    return ()
