"""The configuration of every site model class (its own module so that parts of the model, such
as the call flows, can live in modules of their own without importing each other in a circle)."""

from __future__ import annotations

from pydantic import ConfigDict

# Attribute docstrings become field descriptions; the configuration reference is built from them.
MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
