"""One service definition, two executors: systemd where PID 1 is systemd, else taichu-svc.

    services = await Services.detect(run, upload)
    await services.ensure(Service("etcd", ("/opt/taichu/bin/etcd", "--name=m1", ...)))

`ensure` installs the definition and starts the service, or restarts it when the
definition or (per the caller) its configuration changed; an unchanged running service is
left alone, so a rerun of a step is safe and quick.
"""

from __future__ import annotations

import re
import shlex
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Literal, Protocol

from taichu.provision.install import layout
from taichu.ssh.session import CommandResult

Init = Literal["systemd", "supervisor"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_DETECT = '[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]'
# Per (task, machine): what the machine runs, found once (bounded: a long-lived process).
_DETECTED: OrderedDict[str, Init] = OrderedDict()
_DETECTED_MAX = 4096


class Runner(Protocol):
    def __call__(
        self, command: str, *, timeout: float = 120, check: bool = True
    ) -> Awaitable[CommandResult]: ...


Uploader = Callable[[bytes, str, int], Awaitable[bool]]


def supervisor_script() -> bytes:
    return files("taichu.provision.install").joinpath("supervisor.sh").read_bytes()


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]  # argv[0] absolute
    env: Mapping[str, str] = field(default_factory=dict)
    # containerd: stopping it must not kill the containers' shims (systemd KillMode).
    keep_children: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"bad service name {self.name!r}")
        if not self.argv or not self.argv[0].startswith("/"):
            raise ValueError(f"{self.name}: the command must start with an absolute path")


def _systemd_quote(arg: str) -> str:
    # systemd's own quoting: double quotes, backslash escapes; % and $ are its specifiers.
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def systemd_unit(service: Service) -> str:
    env = "".join(
        f"Environment={_systemd_quote(f'{k}={v}')}\n" for k, v in sorted(service.env.items())
    )
    kill = "KillMode=process\n" if service.keep_children else ""
    return (
        "[Unit]\n"
        f"Description=taichu {service.name}\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "StartLimitIntervalSec=0\n\n"
        "[Service]\n"
        f"ExecStart={' '.join(_systemd_quote(a) for a in service.argv)}\n"
        f"{env}"
        "Restart=always\n"
        "RestartSec=2\n"
        "LimitNOFILE=1048576\n"
        "Delegate=yes\n"
        f"{kill}"
        f"StandardOutput=append:{layout.log_path(service.name)}\n"
        f"StandardError=append:{layout.log_path(service.name)}\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def supervisor_definition(service: Service) -> str:
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(service.env.items()))
    return (
        "#!/bin/sh\n"
        f"# taichu service {service.name}: run by {layout.SUPERVISOR}\n"
        f"{exports}"
        f"exec {shlex.join(service.argv)}\n"
    )


class Services:
    """The services of one machine."""

    def __init__(self, run: Runner, upload: Uploader, init: Init) -> None:
        self._run = run
        self._upload = upload
        self.init: Init = init

    @classmethod
    async def detect(cls, run: Runner, upload: Uploader, key: str | None = None) -> Services:
        """Find the machine's init (cached under `key`, e.g. task + machine id) and put the
        supervisor in place where it is needed."""
        init = _DETECTED.get(key) if key else None
        if init is None:
            found = await run(_DETECT, check=False, timeout=30)
            init = "systemd" if found.exit_status == 0 else "supervisor"
            if key:
                _DETECTED[key] = init
                while len(_DETECTED) > _DETECTED_MAX:
                    _DETECTED.popitem(last=False)
        services = cls(run, upload, init)
        if init == "supervisor":
            await run(f"mkdir -p {layout.BIN} {layout.SERVICES} {layout.RUN} {layout.LOGS}")
            await upload(supervisor_script(), layout.SUPERVISOR, 0o755)
        return services

    # --- definitions ---------------------------------------------------------------------

    async def install(self, service: Service) -> bool:
        """Write the definition; True when it changed."""
        await self._run(f"mkdir -p {layout.LOGS} {layout.SERVICES}", timeout=30)
        if self.init == "systemd":
            path = layout.unit_path(service.name)
            changed = await self._upload(systemd_unit(service).encode(), path, 0o644)
            if changed:
                await self._run("systemctl daemon-reload", timeout=60)
            await self._run(f"systemctl enable -q taichu-{service.name}", timeout=60)
            return changed
        path = layout.definition_path(service.name)
        return await self._upload(supervisor_definition(service).encode(), path, 0o755)

    async def ensure(self, service: Service, *, changed: bool = False) -> bool:
        """Installed and running; restarted when the definition changed or `changed` (its
        configuration did). True when it was (re)started."""
        changed = await self.install(service) or changed
        if changed:
            await self.restart(service.name)
            return True
        if await self.status(service.name) != "running":
            await self.start(service.name)
            return True
        return False

    async def remove(self, name: str) -> None:
        """Stopped, and its definition gone (teardown)."""
        await self.stop(name)
        if self.init == "systemd":
            await self._run(
                f"systemctl disable -q taichu-{name} 2>/dev/null; "
                f"rm -f {layout.unit_path(name)} && systemctl daemon-reload",
                timeout=60,
            )
        else:
            await self._run(f"rm -f {layout.definition_path(name)}", timeout=30)

    # --- control -------------------------------------------------------------------------

    def _ctl(self, verb: str, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"bad service name {name!r}")
        if self.init == "systemd":
            return f"systemctl {verb} taichu-{name}"
        return f"{layout.SUPERVISOR} {verb} {name}"

    async def start(self, name: str) -> None:
        await self._run(self._ctl("start", name), timeout=60)

    async def restart(self, name: str) -> None:
        await self._run(self._ctl("restart", name), timeout=90)

    async def stop(self, name: str) -> None:
        if self.init == "systemd":
            await self._run(f"systemctl stop taichu-{name} 2>/dev/null || true", timeout=90)
        else:
            await self._run(
                f"[ ! -x {layout.SUPERVISOR} ] || {self._ctl('stop', name)}", timeout=90
            )

    async def status(self, name: str) -> str:
        """running | stopped | restarting (| unsupervised: running without its loop)."""
        if self.init == "systemd":
            r = await self._run(f"systemctl is-active taichu-{name}", check=False, timeout=30)
            state = r.stdout.strip()
            return {"active": "running", "activating": "restarting"}.get(state, "stopped")
        r = await self._run(
            f"[ -x {layout.SUPERVISOR} ] && {self._ctl('status', name)} || echo stopped",
            check=False,
            timeout=30,
        )
        return (r.stdout.split() or ["stopped"])[0]

    async def logs(self, name: str, lines: int = 30) -> str:
        """The tail of the service's log (for error messages)."""
        r = await self._run(
            f"tail -n {int(lines)} {layout.log_path(name)} 2>/dev/null", check=False, timeout=30
        )
        return r.stdout[-4000:]
