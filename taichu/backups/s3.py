"""A small S3 client (Signature V4 over aiohttp) with what backup storage needs: single and
multipart uploads, streamed downloads, deletes and listing of unfinished uploads.

Why not boto3/aiobotocore: they would be the platform's largest dependency for eight
calls, and aiohttp (the transport of the Kubernetes client) is already here. Speaks to
AWS S3 and S3-compatible stores (MinIO, Ceph RGW, ...), path- or virtual-hosted-style.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import aiohttp
from yarl import URL

from taichu.errors import NotFound, Unavailable

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError)


class S3Error(Unavailable):
    """The object store refused a request or could not be reached."""


def _quote(value: str, safe: str = "~") -> str:
    # RFC 3986 unreserved characters stay as they are; everything else is %-encoded, as
    # SigV4's canonical form requires.
    return quote(value, safe=safe)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _xml(body: bytes) -> ElementTree.Element:
    # The configured object store's own answers (no external entities are resolved by
    # ElementTree; expat bounds entity expansion).
    return ElementTree.fromstring(body)  # noqa: S314


def _find(element: ElementTree.Element, name: str) -> str:
    found = element.find(f"{_NS}{name}")
    if found is None:
        found = element.find(name)
    return (found.text or "") if found is not None else ""


def _error_text(status: int, body: bytes) -> str:
    try:
        root = _xml(body)
        code, message = _find(root, "Code"), _find(root, "Message")
        return f"{status} {code}: {message}".strip()
    except ElementTree.ParseError:
        return f"{status}: {body[:200].decode('utf-8', 'replace')}"


@dataclass(frozen=True)
class S3Config:
    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    addressing_style: Literal["path", "virtual"] = "path"
    timeout_seconds: float = 120.0


class S3Client:
    def __init__(self, config: S3Config) -> None:
        self.config = config
        parts = urlsplit(config.endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise S3Error(f"S3 endpoint must be an http(s) URL, not {config.endpoint!r}")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                trust_env=False,  # credentials never go through a proxy from the environment
            )
        return self._session

    def _target(self, bucket: str, key: str) -> tuple[str, str]:
        """(host, canonical path) of an object or bucket."""
        encoded_key = _quote(key, safe="/~")
        if self.config.addressing_style == "virtual":
            return f"{bucket}.{self._netloc}", "/" + encoded_key
        path = f"/{_quote(bucket)}"
        return self._netloc, (f"{path}/{encoded_key}" if key else path)

    def _signed_headers(
        self, method: str, host: str, path: str, query: str, payload_hash: str, now: datetime
    ) -> dict[str, str]:
        cfg = self.config
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        if cfg.session_token:
            headers["x-amz-security-token"] = cfg.session_token
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        scope = f"{day}/{cfg.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = _hmac(
            _hmac(_hmac(_hmac(("AWS4" + cfg.secret_access_key).encode(), day), cfg.region), "s3"),
            "aws4_request",
        )
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={cfg.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        headers["Host"] = headers.pop("host")
        return headers

    async def _open(
        self,
        method: str,
        bucket: str,
        key: str = "",
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        ok: tuple[int, ...] = (200,),
    ) -> aiohttp.ClientResponse:
        host, path = self._target(bucket, key)
        query_string = "&".join(
            f"{_quote(k)}={_quote(v)}" for k, v in sorted((query or {}).items())
        )
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        headers = self._signed_headers(
            method, host, path, query_string, payload_hash, datetime.now(UTC)
        )
        url = URL(
            f"{self._scheme}://{host}{path}" + (f"?{query_string}" if query_string else ""),
            encoded=True,
        )
        where = f"S3 {method} {bucket}/{key}"
        try:
            resp = await self._http().request(
                method, url, data=body or None, headers=headers, allow_redirects=False
            )
            if resp.status in ok:
                return resp
            async with resp:
                error_body = await resp.read()
        except _TRANSPORT_ERRORS as e:
            raise S3Error(
                f"{where}: cannot reach {self.config.endpoint}: {e or type(e).__name__}"
            ) from e
        if resp.status == 404:
            raise NotFound(f"{where}: {_error_text(resp.status, error_body)}")
        raise S3Error(f"{where} failed: {_error_text(resp.status, error_body)}")

    async def _call(self, method: str, bucket: str, key: str = "", **kwargs: object) -> bytes:
        resp = await self._open(method, bucket, key, **kwargs)  # type: ignore[arg-type]
        try:
            async with resp:
                return await resp.read()
        except _TRANSPORT_ERRORS as e:
            raise S3Error(f"S3 {method} {bucket}/{key}: connection lost: {e}") from e

    # --- objects ---------------------------------------------------------------------

    async def put_object(self, bucket: str, key: str, body: bytes) -> None:
        await self._call("PUT", bucket, key, body=body)

    async def head_object(self, bucket: str, key: str) -> int | None:
        """Size of the object, or None if there is none."""
        try:
            resp = await self._open("HEAD", bucket, key)
        except NotFound:
            return None
        async with resp:
            return int(resp.headers.get("Content-Length", "0"))

    async def get_object(self, bucket: str, key: str, block: int = 1 << 20) -> AsyncIterator[bytes]:
        resp = await self._open("GET", bucket, key)
        try:
            async with resp:
                async for data in resp.content.iter_chunked(block):
                    yield data
        except _TRANSPORT_ERRORS as e:
            raise S3Error(f"S3 GET {bucket}/{key}: connection lost mid-download: {e}") from e

    async def delete_object(self, bucket: str, key: str) -> None:
        await self._call("DELETE", bucket, key, ok=(200, 204))

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            root = _xml(await self._call("GET", bucket, query=query))
            keys += [_find(c, "Key") for c in root.iter(f"{_NS}Contents")]
            token = _find(root, "NextContinuationToken")
            if _find(root, "IsTruncated") != "true" or not token:
                return keys

    async def create_bucket(self, bucket: str) -> None:
        await self._call("PUT", bucket)

    # --- multipart -------------------------------------------------------------------

    async def create_multipart(self, bucket: str, key: str) -> str:
        root = _xml(await self._call("POST", bucket, key, query={"uploads": ""}))
        upload_id = _find(root, "UploadId")
        if not upload_id:
            raise S3Error(f"S3 did not start a multipart upload of {bucket}/{key}")
        return upload_id

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: bytes
    ) -> str:
        resp = await self._open(
            "PUT", bucket, key, body=body, query={"partNumber": str(number), "uploadId": upload_id}
        )
        async with resp:
            await resp.read()
            return resp.headers.get("ETag", "")

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, etags: list[str]
    ) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        answer = await self._call("POST", bucket, key, query={"uploadId": upload_id}, body=body)
        # S3 may answer 200 with an error document when completion fails late.
        if b"<Error>" in answer:
            raise S3Error(
                f"S3 could not complete the upload of {bucket}/{key}: {_error_text(200, answer)}"
            )

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with contextlib.suppress(NotFound):  # already completed or aborted
            await self._call("DELETE", bucket, key, query={"uploadId": upload_id}, ok=(200, 204))

    async def list_multipart(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        """Unfinished uploads under `prefix`: (key, upload id)."""
        root = _xml(await self._call("GET", bucket, query={"uploads": "", "prefix": prefix}))
        return [(_find(u, "Key"), _find(u, "UploadId")) for u in root.iter(f"{_NS}Upload")]
