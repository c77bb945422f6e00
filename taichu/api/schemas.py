"""Base classes of request and response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_serializer

from taichu.timeutil import rfc3339


class OutModel(BaseModel):
    """A response model: reads ORM attributes, writes times as RFC 3339 UTC (`...Z`)."""

    model_config = ConfigDict(from_attributes=True)

    @field_serializer("*", when_used="json")
    def _times(self, value: object) -> object:
        return rfc3339(value) if isinstance(value, datetime) else value


class InModel(BaseModel):
    """A request body: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
