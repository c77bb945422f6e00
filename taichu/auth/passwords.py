"""Argon2id password hashing, in a small dedicated thread pool.

One hash costs tens of milliseconds of CPU (a second on a loaded machine): on the event
loop it would stall every request while a login burst lasts. The pool bounds how many run
at once (`TAICHU_AUTH__HASH_THREADS`); the rest wait in line without holding the loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from taichu.config import AuthSettings

_hasher = PasswordHasher()
# A real hash verified when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("taichu-timing-equaliser")


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)  # parses parameters only: cheap


def _lower_priority() -> None:
    # Request handling gets the CPU before hashing does: a burst of logins slows logins,
    # not the server. Linux niceness is per thread and argon2's lane threads inherit it.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class _Pool:
    """The process's hashing threads, started on first use with the configured size
    (threads are a process resource: every app and event loop of the process shares them)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self, threads: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=threads,
                    thread_name_prefix="taichu-password",
                    initializer=_lower_priority,
                )
            return self._executor


_pool = _Pool()


async def hash_password(rules: AuthSettings, password: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool.get(rules.hash_threads), _hash, password)


async def verify_password(rules: AuthSettings, password_hash: str | None, password: str) -> bool:
    """False for a wrong password and for a missing user (`password_hash` None), after the
    same work either way."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _pool.get(rules.hash_threads), _verify, password_hash, password
    )
