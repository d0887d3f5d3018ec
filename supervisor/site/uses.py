"""What config text uses from Asterisk, and which modules must be loaded for it, from the image's
own facts (`supervisor.asterisk_facts`).

- extensions.conf: the dialplan application of every `exten`/`same` line (and the application
  an `Exec`, `TryExec`, `ExecIf` or `ExecIfTime` runs), every function read as `${NAME(...)}`,
  written as `Set(NAME(...)=...)` or called inside `$[...]`. A name Asterisk does not have, or
  whose module is not in the image, is a problem: the line would fail only when a call reaches it.
- pjsip.conf: each section's `type` (its module) and every option, which must be one Asterisk
  documents for that type, with a documented value where the documentation lists them.

Cost: one pass over the text; each name is a dictionary lookup.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from supervisor.asterisk_facts import BUILTIN, AsteriskFacts, facts
from supervisor.confparse import Header, Setting, parse
from supervisor.site.model import Site
from supervisor.site.yamlsource import Path

# "expression": a name called inside $[...] (a dialplan function or the parser's own).
Kind = Literal["application", "function", "expression"]
_NAME = re.compile(r"\s*([A-Za-z0-9_]+)")
_READ = re.compile(r"\$\{([A-Za-z0-9_]+)\(")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
_EXPR = re.compile(r"\$\[([^\]]*)\]")
_EXEC = {"exec", "tryexec"}
_EXEC_IF = {"execif", "execiftime"}
_SET = {"set", "mset"}
#: Modules a site may not load (raw dialplan or `modules`), and why: each hands the call, or
#: the pod, to something outside the site.
REFUSED_MODULES = {
    "app_system": "runs shell commands",
    "func_shell": "runs shell commands",
    "res_agi": "hands the call to an external program (AGI)",
    "app_externalivr": "hands the call to an external program",
    "app_stasis": "hands the call to an ARI application",
    "func_curl": "makes HTTP requests from the pod",
}
#: Functions refused whatever their module provides besides.
REFUSED_FUNCTIONS = {"FILE": "reads and writes any file Asterisk can (its config holds passwords)"}
# Suggestions compare with every name of a kind (a few hundred): only for the first few problems.
_MAX_SUGGESTIONS = 20


@dataclass(frozen=True, slots=True)
class Use:
    """A name the text uses, at its 1-based line."""

    line: int
    kind: Kind
    name: str


def _application_uses(line: int, application: str) -> Iterable[Use]:
    match = _NAME.match(application)
    if match is None:
        return
    name = match.group(1)
    yield Use(line, "application", name)
    rest = application[match.end() :]
    args = rest[1:] if rest.startswith(("(", ",")) else ""
    for function in _READ.findall(args):
        yield Use(line, "function", function)
    lowered = name.lower()
    if lowered in _SET:
        for assignment in args.split(","):
            written = _CALL.match(assignment.strip())
            if written is not None and "=" in assignment[written.end() :]:
                yield Use(line, "function", written.group(1))
    if lowered in _EXEC:
        yield from _application_uses(line, args)
    elif lowered in _EXEC_IF and "?" in args:
        branches = args.split("?", 1)[1]
        for branch in branches.split(":", 1):
            yield from _application_uses(line, branch)


def dialplan_uses(text: str) -> list[Use]:
    """Applications and functions used by the `exten`/`same` lines of extensions.conf text."""
    uses: list[Use] = []
    for item in parse(text, keep_going=True):
        if not isinstance(item, Setting) or item.name not in ("exten", "same"):
            continue
        parts = item.value.split(",", 2 if item.name == "exten" else 1)
        if len(parts) < (3 if item.name == "exten" else 2):
            continue
        priority = parts[-2].strip()
        if priority.startswith("hint"):
            continue  # a hint names devices, not an application
        application = parts[-1]
        uses += _application_uses(item.line, application)
        for expression in _EXPR.findall(application):
            uses += (Use(item.line, "expression", n) for n in _CALL.findall(expression))
    return uses


@dataclass(frozen=True, slots=True)
class Needs:
    """Modules the uses need (dependencies not included) and (line, message) problems."""

    modules: tuple[str, ...]
    problems: tuple[tuple[int, str], ...]


def _suggest(name: str, known: Iterable[str], asked: list[int]) -> str:
    if asked[0] >= _MAX_SUGGESTIONS:
        return ""
    asked[0] += 1
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def _choose(
    what: str, providers: Sequence[str], loaded: frozenset[str], known: AsteriskFacts
) -> tuple[str | None, str | None]:
    """(module to load or None for the core, problem or None)."""
    if BUILTIN in providers:
        return None, None
    refused = [REFUSED_MODULES[m] for m in providers if m in REFUSED_MODULES]
    if refused:
        return None, f"{what} is not allowed: it {refused[0]}"
    for module in providers:
        if module in loaded:
            return module, None
    present = [m for m in providers if m in known.modules]
    plain = [m for m in present if all(other.startswith(m) for other in present)]
    if plain:
        # One module, or the plain one of its variants (app_voicemail, not app_voicemail_odbc).
        return plain[0], None
    if not present:
        return None, f"{what} is provided by {', '.join(providers)}, which the image does not have"
    return None, f"{what} is provided by {', '.join(present)}: name the one to load in modules"


def needs(
    uses: Iterable[Use], loaded: Iterable[str] = (), known: AsteriskFacts | None = None
) -> Needs:
    """The modules `uses` need beyond the core (preferring one of `loaded` where several provide
    a name), and a problem for every name Asterisk cannot run."""
    known = known or facts()
    have = frozenset(m.removesuffix(".so") for m in loaded)
    modules: dict[str, None] = {}
    problems: list[tuple[int, str]] = []
    asked = [0]
    for use in uses:
        if use.kind == "application":
            found = known.application(use.name)
            if found is None:
                hint = _suggest(use.name, known.applications, asked)
                problems.append((use.line, f"Asterisk has no application {use.name}{hint}"))
                continue
            module, problem = _choose(f"application {found[0]}", found[1], have, known)
        elif use.kind == "function":
            providers = known.function(use.name)
            if providers is None:
                hint = _suggest(use.name, known.functions, asked)
                problems.append((use.line, f"Asterisk has no function {use.name}{hint}"))
                continue
            if use.name in REFUSED_FUNCTIONS:
                why = REFUSED_FUNCTIONS[use.name]
                problems.append((use.line, f"function {use.name} is not allowed: it {why}"))
                continue
            module, problem = _choose(f"function {use.name}", providers, have, known)
        else:
            # Inside $[...] a name may also be one of the expression parser's own functions
            # (COS, SQRT, ...): only dialplan functions are resolved, nothing else is refused.
            providers = known.function(use.name)
            if providers is None:
                continue
            module, problem = _choose(f"function {use.name}", providers, have, known)
        if problem is not None:
            problems.append((use.line, problem))
        elif module is not None:
            modules.setdefault(module)
    return Needs(tuple(modules), tuple(problems))


def _pjsip_sections(text: str) -> list[tuple[Header, list[Setting]]]:
    sections: list[tuple[Header, list[Setting]]] = []
    for item in parse(text, keep_going=True):
        if isinstance(item, Header):
            sections.append((item, []))
        elif isinstance(item, Setting) and sections:
            sections[-1][1].append(item)
    return sections


def _type_of(
    header: Header, settings: list[Setting], inherited: dict[str, str | None]
) -> str | None:
    """A section's `type`: its own, else the first one a template it inherits has (several
    sections may share a name, e.g. an endpoint, an auth and an aor: each is resolved alone).
    `inherited` holds the templates defined before it, resolved already: Asterisk copies a
    template into a section when the section is defined, so one pass in file order resolves
    chains of any length in linear time, without recursion."""
    own = [s.value.strip() for s in settings if s.name == "type"]
    if own:
        return own[-1]
    for parent in header.options or ():
        found = inherited.get(parent) if parent not in ("!", "+") else None
        if found is not None:
            return found
    return None


def pjsip_needs(text: str, known: AsteriskFacts | None = None) -> Needs:
    """The modules the object types of pjsip.conf `text` need, and a problem for every section
    whose type Asterisk does not have and every option it does not document for that type."""
    known = known or facts()
    sections = _pjsip_sections(text)
    inherited: dict[str, str | None] = {}
    modules: dict[str, None] = {}
    problems: list[tuple[int, str]] = []
    asked = [0]
    for header, settings in sections:
        template = "!" in (header.options or ())
        kind = _type_of(header, settings, inherited)
        if template:
            inherited[header.name] = kind
        if kind is None:
            if not template:
                problems.append((header.line, f"section [{header.name}] has no type"))
            continue
        objects = known.pjsip(kind)
        if objects is None:
            hint = _suggest(kind, known.config.get("pjsip.conf", {}), asked)
            problems.append((header.line, f"Asterisk has no pjsip object type {kind}{hint}"))
            continue
        for module in objects.modules:
            modules.setdefault(module)
        for setting in settings:
            option = objects.options.get(setting.name)
            if option is None:
                hint = _suggest(setting.name, objects.options, asked)
                problems.append(
                    (setting.line, f"a pjsip {kind} has no option {setting.name}{hint}")
                )
                continue
            bad = option.bad_value(setting.value.strip())
            if bad is not None:
                problems.append((setting.line, f"{kind} option {setting.name}: {bad}"))
    return Needs(tuple(modules), tuple(problems))


def module_problems(site: Site, known: AsteriskFacts | None = None) -> list[tuple[Path, str]]:
    """Every name in the site's `modules` list that is not a module of the image."""
    known = known or facts()
    problems: list[tuple[Path, str]] = []
    asked = [0]
    for index, name in enumerate(site.modules):
        module = name.removesuffix(".so")
        if module not in known.modules:
            hint = _suggest(module, known.modules, asked)
            problems.append((("modules", index), f"the image has no module {module}{hint}"))
        elif module in REFUSED_MODULES:
            problems.append(
                (("modules", index), f"{module} is not allowed: it {REFUSED_MODULES[module]}")
            )
    return problems


def asterisk_problems(
    site: Site, known: AsteriskFacts | None = None
) -> tuple[list[tuple[Path, str]], dict[str, list[tuple[int, str]]]]:
    """What Asterisk could not do of the site: problems of its `modules` list (key path,
    message), and of its raw snippets by file (0-based line offset in the snippet, message)."""
    known = known or facts()
    raw: dict[str, list[tuple[int, str]]] = {}
    dialplan = site.raw.get("extensions.conf")
    if dialplan is not None:
        found = needs(dialplan_uses(dialplan), site.modules, known).problems
        raw["extensions.conf"] = [(line - 1, message) for line, message in found]
    endpoints = site.raw.get("pjsip.conf")
    if endpoints is not None:
        found = pjsip_needs(endpoints, known).problems
        raw["pjsip.conf"] = [(line - 1, message) for line, message in found]
    return module_problems(site, known), raw
