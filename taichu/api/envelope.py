"""The `/api/v1` response envelope and list pagination."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_LIMIT = 100


class Envelope(BaseModel, Generic[T]):
    code: int = 0
    message: str = "success"
    data: T


class ErrorEnvelope(BaseModel):
    code: int
    message: str
    data: None = None


class MessageData(BaseModel):
    message: str


def ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "message": "success", "data": data}


class PageParams(BaseModel):
    page: int = Field(1, ge=1)
    limit: int = Field(20, ge=1)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def page_params(
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1."),
    limit: int = Query(20, ge=1, le=1_000_000, description="Items per page (clamped to 100)."),
) -> PageParams:
    return PageParams(page=page, limit=min(limit, MAX_LIMIT))
