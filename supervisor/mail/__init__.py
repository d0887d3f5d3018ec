"""Voicemail by e-mail (docs/mail.md): app_voicemail hands each message to `enqueue.sh`, which
puts it in a bounded queue on the spool volume (`queue.py`); `delivery.py` sends the queue through
the site's SMTP relay (`relay.py`), with backoff while the relay is down."""

from __future__ import annotations

from pathlib import Path

#: The enqueue script as installed with the package (app_voicemail's mailcmd runs it).
ENQUEUE_SCRIPT = Path(__file__).parent / "enqueue.sh"
