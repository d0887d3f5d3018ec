"""Checks of the call flows: every target names something callable, flow names are unique, no
flow loops without the caller pressing a key, nothing defined is unreachable, feature codes do
not collide, prompts exist. Each problem is located at the key that causes it; the whole check is
linear in the size of the dialplan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from supervisor.site import prompts
from supervisor.site.audio import REFERENCE_PREFIX
from supervisor.site.flows import TargetRef, parse_target
from supervisor.site.model import ANY_NUMBER, Site
from supervisor.site.suggest import Suggest
from supervisor.site.yamlsource import Path

Found = tuple[Path, str]


def _collections(site: Site) -> tuple[tuple[str, Collection[str]], ...]:
    """The named things a target may use, in the order that decides a name's kind."""
    plan = site.dialplan
    return (
        ("endpoint", site.endpoints),
        ("ring group", plan.ring_groups),
        ("menu", plan.menus),
        ("time condition", plan.time_conditions),
        ("announcement", plan.announcements),
    )


def flow_kinds(site: Site) -> dict[str, str]:
    """Every name a target may use -> what it is (endpoint, ring group, menu, ...)."""
    kinds: dict[str, str] = {}
    for kind, names in _collections(site):
        for name in names:
            kinds.setdefault(name, kind)
    return kinds


def kind_of(site: Site, name: str) -> str | None:
    """What `name` is, as flow_kinds says, in O(1): the renderer asks once per target, and
    building the whole map per target made rendering quadratic (5,000 phones: 88 s)."""
    for kind, names in _collections(site):
        if name in names:
            return kind
    return None


def _edges(site: Site) -> Iterator[tuple[Path, str, str, bool]]:
    """(key path, from flow, target text, needs the caller to press a key) for every flow's
    outgoing target."""
    plan = site.dialplan
    for name, menu in plan.menus.items():
        path: Path = ("dialplan", "menus", name)
        for digit, target in menu.options.items():
            yield (*path, "options", digit), name, target, True
        yield (*path, "on_timeout"), name, menu.on_timeout, False
        yield (*path, "on_invalid"), name, menu.on_invalid, True
    for name, condition in plan.time_conditions.items():
        path = ("dialplan", "time_conditions", name)
        yield (*path, "when_open"), name, condition.when_open, False
        yield (*path, "when_closed"), name, condition.when_closed, False
    for name, announcement in plan.announcements.items():
        yield ("dialplan", "announcements", name, "then"), name, announcement.then, False


def rung_endpoints(site: Site) -> frozenset[str]:
    """Every endpoint a call can ring: the targets of extensions, inbound numbers, flows, ring
    group fallbacks, the doorbell and screening, and the ring groups' members."""
    plan = site.dialplan
    texts = [route.ring for route in plan.extensions.values()]
    texts += [*plan.inbound.values(), *(text for _, _, text, _ in _edges(site))]
    names: set[str] = set()
    for group in plan.ring_groups.values():
        names.update(group.endpoints)
        if group.fallback is not None:
            texts.append(group.fallback)
    if plan.doorbell is not None:
        texts.append(plan.doorbell.ring)
    if plan.screening is not None:
        texts.append(plan.screening.blocked)
    names.update(ref.name for ref in map(parse_target, texts) if ref.kind == "name")
    return frozenset(name for name in names if name in site.endpoints)


def check_flows(site: Site) -> Iterator[Found]:
    """Every problem of the site's call flows (after the field checks)."""
    plan = site.dialplan
    kinds = flow_kinds(site)
    suggest = Suggest()
    yield from _duplicates(site)
    flows = set(plan.menus) | set(plan.time_conditions) | set(plan.announcements)

    def target(path: Path, text: str) -> Iterator[Found]:
        ref = parse_target(text)
        if ref.kind == "voicemail":
            endpoint = site.endpoints.get(ref.name)
            if endpoint is None:
                yield path, suggest.unknown("endpoint", ref.name, site.endpoints)
            elif endpoint.voicemail is None:
                yield path, f"endpoint {ref.name} has no voicemail box"
        elif ref.kind == "name":
            kind = kinds.get(ref.name)
            if kind is None:
                yield path, suggest.unknown("endpoint, ring group or flow", ref.name, kinds)
            elif kind == "endpoint" and site.endpoints[ref.name].auth is None:
                yield path, f"endpoint {ref.name} cannot be called: it does not register (no auth)"

    roots: list[str] = []
    for number, extension in plan.extensions.items():
        yield from target(("dialplan", "extensions", number), extension.ring)
        roots.append(extension.ring)
    dids = {did for trunk in site.trunks.values() for did in trunk.dids}
    for did, routed in plan.inbound.items():
        path: Path = ("dialplan", "inbound", did)
        if did != ANY_NUMBER and did not in dids:
            yield path, f"no trunk lists {did} in its dids"
        yield from target(path, routed)
        roots.append(routed)
    if plan.screening is not None:
        yield from target(("dialplan", "screening", "blocked"), plan.screening.blocked)
        roots.append(plan.screening.blocked)
        yield from check_screening(site)
    edges = list(_edges(site))
    for path, _, text, _ in edges:
        yield from target(path, text)
    yield from _prompts(site)
    yield from _hold_classes(site)
    yield from _codes(site)
    yield from _menus(site)
    for name, condition in plan.time_conditions.items():
        if not condition.open:
            yield (
                ("dialplan", "time_conditions", name, "open"),
                "no rule: it is never open (when_open could never be reached)",
            )
    yield from _loops(edges, flows)
    yield from _unreachable(site, edges, roots, flows)


def _duplicates(site: Site) -> Iterator[Found]:
    plan = site.dialplan
    taken = {n: "an endpoint" for n in site.endpoints} | {
        n: "a ring group" for n in plan.ring_groups
    }
    for key, names, kind in (
        ("menus", plan.menus, "a menu"),
        ("time_conditions", plan.time_conditions, "a time condition"),
        ("announcements", plan.announcements, "an announcement"),
    ):
        for name in names:
            if name in taken:
                yield ("dialplan", key, name), f"{name!r} is also {taken[name]}'s name"
            taken.setdefault(name, kind)


def sounds(site: Site) -> list[tuple[Path, str]]:
    """Every prompt the site names (an installed sound or audio:NAME), with its key path."""
    plan = site.dialplan
    found: list[tuple[Path, str]] = []
    for name, menu in plan.menus.items():
        found.append((("dialplan", "menus", name, "greeting"), menu.greeting))
        found.append((("dialplan", "menus", name, "invalid_sound"), menu.invalid_sound))
    for name, announcement in plan.announcements.items():
        found.append((("dialplan", "announcements", name, "sound"), announcement.sound))
    for name, hold in site.music_on_hold.items():
        for index, file in enumerate(hold.files):
            found.append((("music_on_hold", name, "files", index), file))
    return found


def audio_references(site: Site) -> list[tuple[Path, str]]:
    """(key path, file name) of every site audio file the site names (`audio:NAME`)."""
    return [
        (path, sound.removeprefix(REFERENCE_PREFIX))
        for path, sound in sounds(site)
        if sound.startswith(REFERENCE_PREFIX)
    ]


def _prompts(site: Site) -> Iterator[Found]:
    known = prompts.installed()
    for path, sound in sounds(site):
        if not sound.startswith(REFERENCE_PREFIX) and sound not in known:
            yield path, f"unknown prompt (not among Asterisk's installed sounds) {sound!r}"


def _hold_classes(site: Site) -> Iterator[Found]:
    classes = {"default", *site.music_on_hold}
    for name, endpoint in site.endpoints.items():
        wanted = endpoint.music_on_hold
        if wanted is not None and wanted not in classes:
            yield (
                ("endpoints", name, "music_on_hold"),
                f"unknown music-on-hold class {wanted!r} (default or one of music_on_hold)",
            )


def _codes(site: Site) -> Iterator[Found]:
    """Feature codes and extensions share the phones' dialling space."""
    used: dict[str, str] = {n: "dialplan.extensions" for n in site.dialplan.extensions}
    used.setdefault(site.voicemail.access, "voicemail.access")
    used.setdefault(site.voicemail.access_any, "voicemail.access_any")
    for name, condition in site.dialplan.time_conditions.items():
        if condition.override is None:
            continue
        where = used.get(condition.override)
        if where is not None:
            yield (
                ("dialplan", "time_conditions", name, "override"),
                f"{condition.override} is also {where}",
            )
        used.setdefault(condition.override, f"time condition {name}'s override")
    features = site.dialplan.features
    if features is None:
        return
    if site.dialplan.pickup is not None:
        used.setdefault(site.dialplan.pickup, "dialplan.pickup")
    screening = site.dialplan.screening
    for key in ("block_code", "unblock_code"):
        code = getattr(screening, key) if screening is not None else None
        if code is not None:
            used.setdefault(code, f"dialplan.screening.{key}")
    for key, code in features.codes().items():
        path: Path = ("dialplan", "features", key)
        where = used.get(code)
        if where is not None:
            yield path, f"{code} is also {where}"
        used.setdefault(code, f"dialplan.features.{key}")
    # A forward code takes the number after it (*72NUMBER): nothing else may start with one.
    on = {features.forward_on, features.forward_busy_on, features.forward_noanswer_on}
    for key, code in features.codes().items():
        if code not in on:
            continue
        for number, where in used.items():
            if number != code and number.startswith(code):
                yield (
                    ("dialplan", "features", key),
                    (f"{number} ({where}) starts with {code}: phones could not dial it"),
                )
                break


def _menus(site: Site) -> Iterator[Found]:
    extensions = site.dialplan.extensions
    for name, menu in site.dialplan.menus.items():
        if not menu.direct_dial:
            continue
        for number in extensions:
            if number[0] in menu.options:
                yield (
                    ("dialplan", "menus", name, "direct_dial"),
                    f"extension {number} starts with option {number[0]}: a caller pressing "
                    f"{number[0]} would wait for more digits (give the option another digit)",
                )
                break


def _loops(edges: list[tuple[Path, str, str, bool]], flows: set[str]) -> Iterator[Found]:
    """A cycle of flows the call follows without the caller pressing anything never ends."""
    follows: dict[str, list[tuple[Path, str]]] = {}
    for path, source, text, needs_input in edges:
        ref = parse_target(text)
        if not needs_input and ref.kind == "name" and ref.name in flows:
            follows.setdefault(source, []).append((path, ref.name))
    state: dict[str, int] = {}  # 1: on the current walk, 2: done
    for start in sorted(follows):
        if start in state:
            continue
        # Iterative depth-first walk: a long chain must not hit the recursion limit.
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        state[start] = 1
        while stack:
            node, index = stack[-1]
            out = follows.get(node, [])
            if index == len(out):
                stack.pop()
                trail.pop()
                state[node] = 2
                continue
            stack[-1] = (node, index + 1)
            path, nxt = out[index]
            if state.get(nxt) == 1:
                loop = [*trail[trail.index(nxt) :], nxt]
                if len(loop) > 9:
                    loop = [*loop[:4], "...", *loop[-4:]]
                yield path, f"loops without the caller pressing a key: {' -> '.join(loop)}"
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, 0))
                trail.append(nxt)


def _unreachable(
    site: Site, edges: list[tuple[Path, str, str, bool]], roots: list[str], flows: set[str]
) -> Iterator[Found]:
    follows: dict[str, list[str]] = {}
    for _, source, text, _ in edges:
        follows.setdefault(source, []).append(text)
    reached: set[str] = set()
    todo = [parse_target(t).name for t in roots if parse_target(t).kind == "name"]
    while todo:
        name = todo.pop()
        if name in reached or name not in flows:
            continue
        reached.add(name)
        for text in follows.get(name, ()):
            ref: TargetRef = parse_target(text)
            if ref.kind == "name":
                todo.append(ref.name)
    plan = site.dialplan
    for key, names in (
        ("menus", plan.menus),
        ("time_conditions", plan.time_conditions),
        ("announcements", plan.announcements),
    ):
        for name in names:
            if name not in reached:
                yield (
                    ("dialplan", key, name),
                    "unreachable: no inbound number, extension or other flow leads here",
                )


def check_screening(site: Site) -> Iterator[Found]:
    """The phones' block codes are prefixes of what phones dial: no extension or other code
    may start with one (Asterisk would wait for more digits, or take the wrong one)."""
    screening = site.dialplan.screening
    if screening is None:
        return
    dialled = [*site.dialplan.extensions, site.voicemail.access, site.voicemail.access_any]
    dialled += [c.override for c in site.dialplan.time_conditions.values() if c.override]
    if site.dialplan.features is not None:
        dialled += site.dialplan.features.codes().values()
    codes = {"block_code": screening.block_code, "unblock_code": screening.unblock_code}
    for key, code in codes.items():
        if code is None:
            continue
        path: Path = ("dialplan", "screening", key)
        for number in dialled:
            if number.startswith(code):
                yield path, f"{number} starts with {code}: phones could not dial it"
                break
        for other_key, other in codes.items():
            if other_key != key and other is not None and other.startswith(code):
                yield path, f"{other_key} {other} starts with {code}"
