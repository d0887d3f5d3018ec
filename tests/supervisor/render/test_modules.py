"""modules.conf follows the site: the base, what the typed dialplan and the raw snippets use,
the site's own `modules`, and their dependencies, each a module of the image."""

from __future__ import annotations

from supervisor.asterisk_facts import facts
from supervisor.render import RenderContext, render
from supervisor.site.uses import dialplan_uses, needs
from tests.supervisor.site.sites import load_text

CONTEXT = RenderContext(ami_secret="test-secret-0123")
SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
dialplan:
  features: null
  extensions:
    "11": desk
"""
SECRETS = {"desk-password": "d-secret"}


def loaded_modules(text: str) -> list[str]:
    files = render(load_text(text, SECRETS), CONTEXT)
    return [
        line.split("=", 1)[1].strip()
        for line in files["modules.conf"].splitlines()
        if line.startswith("load")
    ]


def test_raw_snippets_and_the_modules_list_add_their_modules() -> None:
    """A raw dialplan's applications and functions, a raw pjsip object type and the `modules`
    list each load their module, dependencies first, every one a module of the image."""
    base = loaded_modules(SITE)
    text = SITE + (
        "raw:\n"
        "  extensions.conf: |\n"
        "    [ivr]\n"
        "    exten => 1,1,Playback(hello)\n"
        "     same => n,Set(X=${DB(a/b)})\n"
        "  pjsip.conf: |\n"
        "    [peer]\n"
        "    type = asterisk-publication\n"
        "    device_state = yes\n"
        "modules: [app_echo.so, app_page]\n"
    )
    names = loaded_modules(text)
    added = [n for n in names if n not in base]
    assert set(added) == {
        "app_playback.so",
        "func_db.so",
        "res_pjsip_publish_asterisk.so",
        "app_echo.so",
        "app_page.so",
        "app_confbridge.so",  # app_page needs it (its documentation says so)
    }
    assert len(names) == len(set(names))
    assert {n.removesuffix(".so") for n in names} <= facts().modules
    for name in names:
        for dependency in facts().depends.get(name.removesuffix(".so"), ()):
            assert names.index(f"{dependency}.so") < names.index(name), (dependency, name)


def test_typed_dialplan_needs_nothing_beyond_the_base() -> None:
    """Every application and function the renderer writes is provided by a loaded module."""
    files = render(load_text(SITE, SECRETS), CONTEXT)
    found = needs(dialplan_uses(files["extensions.conf"]), loaded_modules(SITE))
    assert found.problems == ()
    assert {f"{m}.so" for m in found.modules} <= set(loaded_modules(SITE))


def test_transcoded_codecs_have_their_module_in_the_image() -> None:
    """Every codec the model calls transcoded names a codec module the image has; the others
    (G.729, video) have none: the image cannot transcode them."""
    from supervisor.render.core import CODEC_MODULES

    transcoded = {m.removesuffix(".so") for m in CODEC_MODULES.values() if m is not None}
    assert transcoded <= facts().modules
    assert {c for c, m in CODEC_MODULES.items() if m is None} == {
        "g729",
        "h264",
        "h263",
        "vp8",
        "vp9",
    }
    assert not {"codec_g729", "codec_h264"} & facts().modules
