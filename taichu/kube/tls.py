"""TLS for cluster connections: the cluster's CA from memory, the client key pair without
ever writing the private key to a disk."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from taichu.kube.access import ClusterAccess


def _load_key_pair(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl can only read a key pair from a path. A memfd is a file that lives in memory and
    # vanishes with its descriptor, so the private key never lands on a disk.
    pem = cert.rstrip(b"\n") + b"\n" + key
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("taichu-key-pair", os.MFD_CLOEXEC)
        try:
            view = memoryview(pem)
            while view:
                view = view[os.write(fd, view) :]
            ctx.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as tmp:  # mode 0700, removed at once
        path = Path(tmp) / "pair.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        ctx.load_cert_chain(path)


def ssl_context(access: ClusterAccess) -> ssl.SSLContext:
    """Verifying context: the cluster's CA only (or the system store), the client pair."""
    if access.ca_data and not access.insecure:
        ctx = ssl.create_default_context(cadata=access.ca_data.decode("ascii", "replace"))
    else:
        ctx = ssl.create_default_context()
    if access.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if access.client_cert_data and access.client_key_data:
        _load_key_pair(ctx, access.client_cert_data, access.client_key_data)
    return ctx
