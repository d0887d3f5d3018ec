"""Bounds on TLS material from the Secret (listed with every other limit in site/limits.py):
bytes bounded before parsing, key sizes before any arithmetic on the key."""

from __future__ import annotations

KiB = 1024

MAX_CERT_PEM_BYTES = 64 * KiB
MAX_KEY_PEM_BYTES = 16 * KiB
MAX_CHAIN = 10
RSA_BITS = (2048, 8192)
