"""Phone feature codes: do-not-disturb and call forwarding (unconditional, busy, no answer),
set by a phone for itself and kept in Asterisk's database (astdb, on the persistent volume).

One owner for the codes (the model), the astdb families the dialplan writes and the supervisor
reads (`/status`, `explain`), and which phones have the features: only phones that
authenticate (`auth`), keyed by their own endpoint name, never by anything a caller sends.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field

from supervisor.site.grammar import Extension, Int
from supervisor.site.model_base import MODEL_CONFIG

#: astdb family of do-not-disturb (key: the endpoint's name; present: on).
DND_FAMILY: Final = "supervisor-dnd"
Forward = Literal["always", "busy", "noanswer"]
#: astdb family of each kind of forward (key: the endpoint's name; value: the number).
FORWARD_FAMILIES: Final[dict[Forward, str]] = {
    "always": "supervisor-forward",
    "busy": "supervisor-forward-busy",
    "noanswer": "supervisor-forward-noanswer",
}
#: What a forward target may hold: what a phone dials (the dialplan refuses anything else).
FORWARD_CHARACTERS: Final = "0123456789*#+"


class PhoneFeatures(BaseModel):
    """Feature codes a phone dials to switch its own do-not-disturb and call forwarding (the
    FreePBX defaults); each code may be null (off). The state lives in Asterisk's database on
    the persistent volume and survives restarts."""

    model_config = MODEL_CONFIG

    dnd_on: Extension | None = "*78"
    """Do-not-disturb on: calls to the phone take its no-answer path at once (its voicemail,
    or what follows it); ring groups skip it."""
    dnd_off: Extension | None = "*79"
    """Do-not-disturb off."""
    forward_on: Extension | None = "*72"
    """Forward every call: dial the code then the number (*72NUMBER), or the code alone and
    key the number in after the prompt."""
    forward_off: Extension | None = "*73"
    """Cancel the unconditional forward."""
    forward_busy_on: Extension | None = "*90"
    """Forward calls when the phone is busy (same as forward_on)."""
    forward_busy_off: Extension | None = "*91"
    """Cancel the busy forward."""
    forward_noanswer_on: Extension | None = "*52"
    """Forward calls the phone does not answer within the ring time (same as forward_on)."""
    forward_noanswer_off: Extension | None = "*53"
    """Cancel the no-answer forward."""
    max_forward_digits: Annotated[Int, Field(ge=3, le=32)] = 20
    """Longest forward target a phone may set (longer ones are refused)."""

    def on_codes(self) -> dict[Forward, str | None]:
        """Each forward's setting code."""
        return {
            "always": self.forward_on,
            "busy": self.forward_busy_on,
            "noanswer": self.forward_noanswer_on,
        }

    def off_codes(self) -> dict[Forward, str | None]:
        """Each forward's cancelling code."""
        return {
            "always": self.forward_off,
            "busy": self.forward_busy_off,
            "noanswer": self.forward_noanswer_off,
        }

    def any_code(self) -> bool:
        """Whether any code is on (cheap: asked for every phone rung)."""
        codes = (
            self.dnd_on,
            self.dnd_off,
            self.forward_on,
            self.forward_off,
            self.forward_busy_on,
            self.forward_busy_off,
            self.forward_noanswer_on,
            self.forward_noanswer_off,
        )
        return codes != (None,) * len(codes)

    def codes(self) -> dict[str, str]:
        """Field name -> code, for every code that is on."""
        return {
            key: value
            for key in PhoneFeatures.model_fields
            if key != "max_forward_digits" and isinstance(value := getattr(self, key), str)
        }
