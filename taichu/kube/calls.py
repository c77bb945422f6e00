"""Calls about the cluster itself (version, readiness, discovery, reviews of the identity
in use), mixed into `KubeClient`: each answer read within the small-answer bound where it
is small by nature, and checked where it is parsed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from taichu.kube.answers import field_list, field_object, field_str, git_version
from taichu.kube.discovery import Discovery, discover
from taichu.kube.errors import TRANSPORT_ERRORS, MalformedAnswer, status_error, transport_error

if TYPE_CHECKING:
    from taichu.kube.client import KubeClient

Obj = dict[str, Any]
# "[-]etcd failed: reason withheld" -> "etcd"; the rest of a line is the server's free text.
_READYZ_CHECK = re.compile(rb"\[-\]([A-Za-z0-9_.:/-]{1,100}) failed")
_READYZ_MAX_CHECKS = 10


class ClusterCalls:
    async def version(self: KubeClient) -> Obj:
        """The /version answer, its `gitVersion` checked to be a short version string."""
        doc = await self.request("GET", "/version", bound="small_answer_max_bytes")
        git_version(doc)
        return doc

    async def git_version(self: KubeClient) -> str:
        return git_version(await self.version())

    async def readyz(self: KubeClient) -> tuple[bool, str]:
        """(True, "ok") or (False, the names of the failing checks). No answer at all raises
        `ClusterUnreachable`, a refused identity `CredentialsRejected`/`ClusterForbidden`:
        the health monitor tells "down" from "unhealthy" from "our access is broken"."""
        for path in ("/readyz", "/healthz"):  # /healthz: servers older than 1.16
            resp = await self._open("GET", path, accept="text/plain", check=False)
            try:
                text = await self._read(resp, "small_answer_max_bytes", f"GET {path}")
            except TRANSPORT_ERRORS as e:
                raise transport_error(e, self.server, self.request_timeout) from e
            if resp.status == 200:
                return True, "ok"
            if resp.status == 404:
                continue
            if resp.status in (401, 403):
                raise status_error(resp.status, bytes(text), "GET", self.server + path)
            return False, failed_checks(text) or f"{path} answered HTTP {resp.status}"
        return False, f"{self.server} serves neither /readyz nor /healthz"

    async def discover(self: KubeClient) -> Discovery:
        async def fetch(path: str, accept: str | None) -> Any:
            return await self.request("GET", path, accept=accept)

        return await discover(fetch)

    async def _review(self: KubeClient, kind: str, group: str, spec: Obj) -> Obj:
        """The `status` of a review (an object), within the small-answer bound."""
        review = await self.request(
            "POST",
            f"/apis/{group}/v1/{kind.lower()}s",
            body={"apiVersion": f"{group}/v1", "kind": kind, "spec": spec},
            bound="small_answer_max_bytes",
        )
        return field_object(review, "status", kind)

    async def self_subject_access_review(
        self: KubeClient,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Whether this identity may `verb` the resource (`kubectl auth can-i`)."""
        attributes = {
            "verb": verb,
            "resource": resource,
            "group": group,
            "namespace": namespace,
            "subresource": subresource,
            "name": name,
        }
        status = await self._review(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            {"resourceAttributes": {k: v for k, v in attributes.items() if v}},
        )
        allowed = status.get("allowed", False)
        if not isinstance(allowed, bool):
            raise MalformedAnswer("SelfSubjectAccessReview.status.allowed is not a boolean")
        return allowed

    async def self_subject_rules_review(self: KubeClient, namespace: str = "default") -> Obj:
        """The identity's rules in `namespace` (status: resourceRules, nonResourceRules)."""
        review = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace},
            },
        )
        status = field_object(review, "status", "SelfSubjectRulesReview")
        field_list(status, "resourceRules", "SelfSubjectRulesReview.status")
        field_list(status, "nonResourceRules", "SelfSubjectRulesReview.status")
        return status

    async def self_subject_review(self: KubeClient) -> str | None:
        """Who the cluster says this identity is (`kubectl auth whoami`): the username."""
        review = await self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            bound="small_answer_max_bytes",
        )
        status = field_object(review, "status", "SelfSubjectReview")
        user = field_object(status, "userInfo", "SelfSubjectReview.status")
        return field_str(user, "username", "SelfSubjectReview.status.userInfo", 1000)


def failed_checks(text: bytes | bytearray) -> str:
    """The names of the failing checks of a /readyz answer ("etcd; informer-sync"), at
    most a few: what else the server wrote is its own free text, not shown to users."""
    names = [m.decode() for m in _READYZ_CHECK.findall(text)]
    shown = "; ".join(names[:_READYZ_MAX_CHECKS])
    if len(names) > _READYZ_MAX_CHECKS:
        shown += f" and {len(names) - _READYZ_MAX_CHECKS} more"
    return shown
