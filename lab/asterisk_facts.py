"""Derive `supervisor/asterisk_facts.json` from the installed Asterisk: its documentation XML
(`core-en_US.xml`: every application, function and pjsip.conf option, each with its module) and
its module directory (what the image really has).

Run `python -m lab.asterisk_facts` after an Asterisk upgrade of image/packages.txt;
tests/lab/test_asterisk_facts.py fails while the committed file differs from what this gives.
Nothing here is hand-copied: a fact missing from the XML is missing from the file.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from lab.paths import REPO

DOCUMENTATION = "usr/share/asterisk/documentation/core-en_US.xml"
MODULE_DIR = "usr/lib/x86_64-linux-gnu/asterisk/modules"
DPKG_STATUS = "var/lib/dpkg/status"
OUTPUT = REPO / "supervisor" / "asterisk_facts.json"
#: Config files whose objects and options are recorded (raw snippets and `options:` use them).
CONFIG_FILES = ("pjsip.conf",)


def _version(rootfs: Path) -> str:
    status = (rootfs / DPKG_STATUS).read_text()
    for stanza in status.split("\n\n"):
        if re.search(r"^Package: asterisk$", stanza, re.M):
            match = re.search(r"^Version: (\S+)", stanza, re.M)
            if match:
                return match.group(1)
    raise RuntimeError(f"no asterisk package in {rootfs / DPKG_STATUS}")


def _module_of_source(source: str, modules: set[str]) -> str:
    """The module a documentation `module=` attribute means. Most name the module; a module built
    from several source files names the file (`parking_applications` is part of res_parking):
    then the one module named `<kind>_<first word of the file>`, if exactly one exists."""
    if source in modules or source == "builtin":
        return source
    stem = source.split("_", 1)[0]
    owners = [m for m in modules if m.split("_", 1)[-1] == stem]
    return owners[0] if len(owners) == 1 else source


def _provided(root: ET.Element, tag: str, modules: set[str]) -> dict[str, list[str]]:
    """Application or function name -> the modules providing it ("builtin": the core)."""
    out: dict[str, set[str]] = {}
    for element in root.iter(tag):
        name, module = element.get("name"), element.get("module")
        if name and module:
            out.setdefault(name, set()).add(_module_of_source(module, modules))
    return {name: sorted(mods) for name, mods in sorted(out.items())}


def _enum_values(option: ET.Element) -> list[str]:
    """The values an option's own description lists (`<enumlist>` directly in its description)."""
    description = option.find("description")
    if description is None:
        return []
    values = []
    for enumlist in description.findall("enumlist"):
        values += [e.get("name", "") for e in enumlist.findall("enum")]
    return sorted({v for v in values if v})


def _config(root: ET.Element, modules: set[str]) -> dict[str, Any]:
    """file -> object type -> {"module": providing module, "options": {name: {default, values}}}."""
    out: dict[str, dict[str, Any]] = {}
    for info in root.iter("configInfo"):
        module = info.get("name", "")
        for file in info.findall("configFile"):
            name = file.get("name", "")
            if name not in CONFIG_FILES:
                continue
            for obj in file.findall("configObject"):
                kind = obj.get("name", "")
                entry = out.setdefault(name, {}).setdefault(kind, {"modules": [], "options": {}})
                if module in modules and module not in entry["modules"]:
                    entry["modules"] = sorted([*entry["modules"], module])
                for option in obj.findall("configOption"):
                    fact: dict[str, Any] = {}
                    if option.get("default") is not None:
                        fact["default"] = option.get("default")
                    values = _enum_values(option)
                    if values:
                        fact["values"] = values
                    entry["options"][option.get("name", "")] = fact
    return {
        file: {
            kind: {"modules": entry["modules"], "options": dict(sorted(entry["options"].items()))}
            for kind, entry in sorted(objects.items())
        }
        for file, objects in sorted(out.items())
    }


def _depends(root: ET.Element, modules: set[str]) -> dict[str, list[str]]:
    """Module -> the modules it needs loaded first (its `<depend>`s that name a module of the
    image; the rest are libraries). Optional `<use>`s are left out: loading them is a choice."""
    out = {}
    for module in root.findall("module"):
        name = module.get("name", "")
        if name not in modules:
            continue
        needs = {d.text.strip() for d in module.findall("depend") if d.text}
        needs &= modules - {name}
        if needs:
            out[name] = sorted(needs)
    return dict(sorted(out.items()))


def derive(rootfs: Path) -> dict[str, Any]:
    """The facts of the Asterisk installed in `rootfs`."""
    modules = {p.name.removesuffix(".so") for p in (rootfs / MODULE_DIR).glob("*.so")}
    root = ET.parse(rootfs / DOCUMENTATION).getroot()
    return {
        "asterisk": _version(rootfs),
        "modules": sorted(modules),
        "depends": _depends(root, modules),
        "applications": _provided(root, "application", modules),
        "functions": _provided(root, "function", modules),
        "config": _config(root, modules),
    }


def render(facts: dict[str, Any]) -> str:
    """The file's text: one JSON document, stable key order, one fact per line for diffs."""
    return json.dumps(facts, indent=0, sort_keys=True, separators=(",", ":")) + "\n"


def main() -> int:
    from lab.rootfs import ensure_rootfs

    OUTPUT.write_text(render(derive(ensure_rootfs())))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
