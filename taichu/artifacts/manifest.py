"""The bundle manifest (`manifest.json`, format 1): what a bundle holds and the checksum of
every file. Strict: a manifest is read from disk an operator may have edited or copied
half, so every field is checked and anything unknown is refused."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from taichu.errors import Invalid

FORMAT = 1
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_FILES = 200
MAX_IMAGES = 32
MAX_FILE_BYTES = 2 * 1024**3  # kube-apiserver is ~100 MiB; far above any real binary
MAX_COMPONENTS = 64
# A bundle's name is one path segment: no "/", never "." or "..", never hidden (the
# builder's temporary directories start with "." and are never listed).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}$"
_WORD = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def check_relative(path: str) -> str:
    """A path inside the bundle: relative, POSIX, no "..", ".", empty or hidden tricks."""
    if not path or len(path) > 255:
        raise ValueError("must be 1-255 characters")
    if "\\" in path or "\x00" in path or path.startswith("/"):
        raise ValueError(f"must be a relative POSIX path inside the bundle, not {path!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"must not contain empty, '.' or '..' segments: {path!r}")
    if PurePosixPath(path).as_posix() != path or path == MANIFEST_NAME:
        raise ValueError(f"not a bundle file path: {path!r}")
    return path


RelativePath = Annotated[str, AfterValidator(check_relative)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FileEntry(_Strict):
    path: RelativePath
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex")
    size: int = Field(ge=0, le=MAX_FILE_BYTES)
    mode: str = Field("0644", pattern=r"^0[0-7]{3}$", description="octal, e.g. 0755")

    @property
    def mode_bits(self) -> int:
        return int(self.mode, 8)


class ImageEntry(_Strict):
    name: str = Field(
        min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9._/:@-]*$", description="ref"
    )
    path: RelativePath
    purpose: str = Field(pattern=_WORD, description="sandbox | dns | verify | ...")


class Manifest(_Strict):
    format: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    kubernetes_version: str = Field(pattern=r"^v\d+\.\d+\.\d+([.+-][A-Za-z0-9.+-]{1,64})?$")
    arch: str = Field(pattern=r"^[a-z0-9_]{1,16}$")
    created_at: datetime
    components: dict[
        Annotated[str, Field(pattern=_WORD)], Annotated[str, Field(pattern=_VERSION)]
    ] = Field(max_length=MAX_COMPONENTS)
    container_runtimes: list[Annotated[str, Field(pattern=_WORD)]] = Field(
        min_length=1, max_length=8
    )
    network_plugins: list[Annotated[str, Field(pattern=_WORD)]] = Field(min_length=1, max_length=8)
    files: list[FileEntry] = Field(min_length=1, max_length=MAX_FILES)
    images: list[ImageEntry] = Field(default_factory=list, max_length=MAX_IMAGES)

    # JSON has no datetime: the one field parsed leniently (strict mode refuses strings).
    @model_validator(mode="before")
    @classmethod
    def _created_at(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("created_at"), str):
            try:
                at = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
            except ValueError as e:
                raise ValueError("created_at: not an RFC 3339 time") from e
            if at.tzinfo is None:
                raise ValueError("created_at: needs a time zone (…Z)")
            data = {**data, "created_at": at}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        paths = [f.path for f in self.files]
        seen: set[str] = set()
        for path in paths:
            if path in seen:
                raise ValueError(f"files: {path} is listed twice")
            # "bin/x" and "bin/x/y" cannot both be files.
            if any(path.startswith(other + "/") or other.startswith(path + "/") for other in seen):
                raise ValueError(f"files: {path} clashes with another file's directory")
            seen.add(path)
        purposes: set[str] = set()
        for image in self.images:
            if image.path not in seen:
                raise ValueError(f"images: {image.path} is not listed in files")
            if image.purpose in purposes:
                raise ValueError(f"images: two images for purpose {image.purpose}")
            purposes.add(image.purpose)
        return self

    def file(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        data = self.model_dump(mode="json")
        data["created_at"] = self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_manifest(data: bytes, *, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest:
    """The manifest in `data`, or Invalid saying which field is wrong (prefixed
    `manifest.json`: the caller adds which bundle)."""
    if len(data) > max_bytes:
        raise Invalid(f"{MANIFEST_NAME}: larger than {max_bytes} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise Invalid(f"{MANIFEST_NAME}: not JSON ({str(e)[:200]})") from None
    if not isinstance(raw, dict):
        raise Invalid(f"{MANIFEST_NAME}: not a JSON object")
    if raw.get("format") != FORMAT:
        shown = json.dumps(raw.get("format"))[:40]
        raise Invalid(
            f"{MANIFEST_NAME}: format {shown} is not supported (this platform reads format "
            f"{FORMAT})"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = _location(tuple(first["loc"]))
        message = str(first["msg"])[:300]
        raise Invalid(f"{MANIFEST_NAME}: {where + ': ' if where else ''}{message}") from None


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))
