"""`taichu artifact build`: a bundle from the lab's Go-module builds and Debian's runc,
CNI plugins and busybox-static.

The bundle is made in a temporary directory beside the destination and renamed into
place, so a half-built bundle never appears under its name; a rebuild from the same
inputs gives the same files (deterministic images) and leaves the existing bundle as it
is."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from taichu.artifacts import oci, versions
from taichu.artifacts.manifest import FileEntry, ImageEntry, Manifest, valid_name
from taichu.artifacts.service import open_bundle_sync, sha256_file
from taichu.errors import Invalid
from taichu.timeutil import utcnow

# bin/ of the bundle, from the lab's cache.
LAB_BIN = (
    "etcd",
    "etcdctl",
    "etcdutl",  # etcd snapshot status and restore (etcdctl 3.6 has only save)
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "flanneld",
    "taichu-apilb",  # workers' API-server endpoint when a cluster has several masters
)
LAB_IMAGE_BIN = ("coredns", "pause")  # only inside images
KUBERNETES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
RUNC_PATHS = (Path("/usr/sbin/runc"), Path("/usr/bin/runc"))
# The sandbox image name kubelet and containerd 2.x expect for Kubernetes 1.36.
PAUSE_TAG = "3.10"
MAX_APPLETS = 1000
_APPLET = re.compile(r"^[A-Za-z0-9_.\[-]{1,32}$")
CHUNK = 1024 * 1024


class BuildError(Exception):
    """The bundle cannot be made; the message says what is missing or wrong."""


@dataclass(frozen=True)
class Sources:
    lab_bin: Path
    runc: Path | None = None  # default: the first of RUNC_PATHS that exists
    cni_dir: Path = Path("/usr/lib/cni")
    busybox: Path = Path("/bin/busybox")

    def runc_path(self) -> Path:
        if self.runc is not None:
            return self.runc
        return next((p for p in RUNC_PATHS if p.exists()), RUNC_PATHS[0])

    def missing(self) -> list[str]:
        wanted = [self.lab_bin / n for n in (*LAB_BIN, *LAB_IMAGE_BIN)]
        wanted += [self.runc_path(), *(self.cni_dir / p for p in CNI_PLUGINS), self.busybox]
        return [str(p) for p in wanted if not os.access(p, os.X_OK) or not p.is_file()]


@dataclass(frozen=True)
class BuildResult:
    root: Path
    manifest: Manifest
    changed: bool  # False: an identical bundle was already there and was kept


def _components(sources: Sources, overrides: Mapping[str, str]) -> dict[str, str]:
    lab = sources.lab_bin

    def v(text: str) -> str:
        return text if text.startswith("v") else f"v{text}"

    asked: dict[str, Callable[[], str]] = {
        "kubernetes": lambda: _kubernetes_version(lab),
        "etcd": lambda: v(versions.ask(lab / "etcd", "--version")),
        "containerd": lambda: v(versions.ask(lab / "containerd", "--version", go_fallback=True)),
        "runc": lambda: versions.ask(sources.runc_path(), "--version"),
        "cni_plugins": lambda: _cni_version(sources.cni_dir / "bridge"),
        "coredns": lambda: v(versions.ask(lab / "coredns", "-version", go_fallback=True)),
        "flannel": lambda: v(versions.ask(lab / "flanneld", "--version", go_fallback=True)),
        "busybox": lambda: versions.ask(sources.busybox),
        "pause": lambda: PAUSE_TAG,
    }
    found: dict[str, str] = {}
    for name, question in asked.items():
        if name in overrides:
            found[name] = overrides[name]
            continue
        try:
            found[name] = question()
        except versions.VersionError as e:
            raise BuildError(f"{e} (give it with --component {name}=VERSION)") from None
    for name, version in overrides.items():
        found.setdefault(name, version)
    return found


def _kubernetes_version(lab: Path) -> str:
    seen = {name: "v" + versions.ask(lab / name, "--version") for name in KUBERNETES}
    seen["kubectl"] = "v" + versions.ask(lab / "kubectl", "version", "--client")
    if len(set(seen.values())) != 1:
        raise BuildError(f"the Kubernetes binaries differ in version: {seen}")
    return next(iter(seen.values()))


def _cni_version(plugin: Path) -> str:
    try:
        return versions.ask(plugin, pattern=versions.CNI_VERSION)  # without CNI_COMMAND
    except versions.VersionError:
        found = versions.debian_version("containernetworking-plugins")
        if found is None:
            raise
        return found


def _arch(paths: list[Path]) -> str:
    arches = {p.name: versions.elf_arch(p) for p in paths}
    named = {a for a in arches.values() if a is not None}
    if len(named) > 1:
        raise BuildError(f"binaries of different architectures: {arches}")
    if named:
        return named.pop()
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _applets(busybox: Path) -> list[str]:
    text = versions.run_bounded([str(busybox), "--list"])
    applets = [a for a in text.split() if _APPLET.match(a)]
    if "sh" not in applets or len(applets) > MAX_APPLETS:
        raise BuildError(f"{busybox} --list did not list applets (is it busybox?)")
    return applets


def _images(sources: Sources, components: Mapping[str, str], arch: str) -> list[oci.ImageSpec]:
    for binary in (sources.lab_bin / "pause", sources.lab_bin / "coredns", sources.busybox):
        if versions.is_dynamic(binary):
            raise BuildError(f"{binary} is dynamically linked: an image needs a static binary")
    busybox_tag = ".".join(components["busybox"].split(".")[:2])
    return [
        oci.ImageSpec(
            ref=f"registry.k8s.io/pause:{components['pause']}",
            entries=(oci.Entry("pause", source=sources.lab_bin / "pause"),),
            entrypoint=("/pause",),
            arch=arch,
        ),
        oci.ImageSpec(
            ref=f"registry.k8s.io/coredns/coredns:{components['coredns']}",
            entries=(oci.Entry("coredns", source=sources.lab_bin / "coredns"),),
            entrypoint=("/coredns",),
            arch=arch,
        ),
        # Cmd, not Entrypoint (as Docker's busybox): a pod's `command` or `args` both work.
        oci.ImageSpec(
            ref=f"docker.io/library/busybox:{busybox_tag}",
            entries=oci.busybox_entries(sources.busybox, _applets(sources.busybox)),
            cmd=("sh",),
            arch=arch,
        ),
    ]


PURPOSES = {"pause": "sandbox", "coredns": "dns", "busybox": "verify"}


def _binaries(sources: Sources) -> list[tuple[Path, FileEntry]]:
    """(source, entry) of every binary, hashed where it is (copied only if needed)."""
    wanted = [(sources.lab_bin / n, f"bin/{n}") for n in LAB_BIN]
    wanted.append((sources.runc_path(), "bin/runc"))
    wanted += [(sources.cni_dir / p, f"cni/{p}") for p in CNI_PLUGINS]
    return [
        (src, FileEntry(path=path, sha256=sha256_file(src), size=src.stat().st_size, mode="0755"))
        for src, path in wanted
    ]


def _copy_checked(source: Path, target: Path, entry: FileEntry) -> None:
    """Copy `source`, checking it is still what was hashed into the manifest."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != entry.sha256:
        raise BuildError(f"{source} changed while the bundle was being built; build again")
    os.chmod(target, entry.mode_bits)


def _write_images(
    work: Path, sources: Sources, components: Mapping[str, str], arch: str
) -> tuple[list[FileEntry], list[ImageEntry]]:
    files, images = [], []
    (work / "images").mkdir()
    for spec in _images(sources, components, arch):
        short = spec.ref.rsplit("/", 1)[-1].split(":", 1)[0]
        target = work / "images" / f"{short}.tar"
        oci.write_image(spec, target)
        os.chmod(target, 0o644)
        entry = FileEntry(
            path=f"images/{target.name}", sha256=sha256_file(target), size=target.stat().st_size
        )
        files.append(entry)
        images.append(ImageEntry(name=spec.ref, path=entry.path, purpose=PURPOSES[short]))
    return files, images


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    with (dest / ".build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once: one after the other
        yield


def _sweep(dest: Path) -> None:
    """Remains of builds that were killed (under the lock, so none is running)."""
    for entry in dest.iterdir():
        if entry.name.startswith(".") and (".build-" in entry.name or ".old-" in entry.name):
            shutil.rmtree(entry, ignore_errors=True)


def _same(existing: Manifest, new: Manifest) -> bool:
    skip = {"created_at"}
    return existing.model_dump(exclude=skip) == new.model_dump(exclude=skip)


def build(
    sources: Sources,
    dest: Path,
    *,
    name: str | None = None,
    overrides: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    missing = sources.missing()
    if missing:
        raise BuildError(
            "missing: " + ", ".join(missing) + ". The lab's node binaries come from "
            "`scripts/lab-build.sh --with-node`; runc, the CNI plugins and busybox-static "
            "from Debian (`apt-get install runc containernetworking-plugins busybox-static`)"
        )
    say("asking the binaries their versions")
    components = _components(sources, overrides or {})
    arch = _arch([sources.lab_bin / n for n in LAB_BIN] + [sources.runc_path()])
    name = name or f"k8s-{components['kubernetes']}-{arch}"
    if not valid_name(name):
        raise BuildError(f"--name {name!r}: one path segment of A-Z a-z 0-9 . _ - (not '.' first)")
    dest.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        _sweep(dest)
        work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{name}.build-"))
        try:
            say("hashing the binaries and making the images")
            binaries = _binaries(sources)
            image_files, images = _write_images(work, sources, components, arch)
            manifest = Manifest(
                format=1,
                name=name,
                kubernetes_version=components["kubernetes"],
                arch=arch,
                created_at=utcnow().replace(microsecond=0),
                components=components,
                container_runtimes=["containerd"],
                network_plugins=["flannel"],
                files=[entry for _, entry in binaries] + image_files,
                images=images,
            )
            kept = _unchanged(dest / name, manifest)
            if kept is not None:
                return BuildResult(dest / name, kept, changed=False)
            say(f"copying the binaries into {work}")
            for source, entry in binaries:
                _copy_checked(source, work / entry.path, entry)
            (work / "manifest.json").write_bytes(manifest.to_json())
            # Binaries and public images, nothing secret: a server of another user reads them.
            os.chmod(work, 0o755)  # noqa: S103
            _place(work, dest / name)
            return BuildResult(dest / name, manifest, changed=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _unchanged(target: Path, manifest: Manifest) -> Manifest | None:
    """The existing bundle's manifest if it holds exactly these files, intact."""
    if not target.is_dir():
        return None
    try:
        existing = open_bundle_sync(target.parent, target.name)
    except Invalid:
        return None
    return existing.manifest if _same(existing.manifest, manifest) else None


def _place(work: Path, target: Path) -> None:
    """Rename `work` to `target`, replacing an older bundle there."""
    if not target.exists():
        os.rename(work, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.rename(target, old / "bundle")
    try:
        os.rename(work, target)
    except OSError:
        os.rename(old / "bundle", target)  # the old bundle stays rather than none
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
