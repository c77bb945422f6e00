"""`taichu artifact build`: make an offline bundle from the lab's builds and Debian files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from taichu import installation
from taichu.artifacts.build import BuildError, Sources, build
from taichu.artifacts.service import artifacts_dir
from taichu.config import get_settings

artifact_app = typer.Typer(help="Offline artifact bundles.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def _lab_bin() -> Path:
    try:
        from taichu.lab.binaries import default_root
    except ImportError:  # the lab extra is absent: the operator names the directory
        raise typer.BadParameter("give --source (the lab extra is not installed)") from None
    return default_root() / "bin"


def _dest() -> Path:
    try:
        return artifacts_dir(get_settings())
    except ValidationError as e:
        err.print(installation.settings_error(e), style="red", markup=False)
        raise typer.Exit(2) from None


def _overrides(values: list[str]) -> dict[str, str]:
    found = {}
    for value in values:
        name, sep, version = value.partition("=")
        if not sep or not name or not version:
            raise typer.BadParameter(f"--component {value!r}: NAME=VERSION")
        found[name.strip()] = version.strip()
    return found


@artifact_app.command("build")
def build_command(
    name: Annotated[
        str | None, typer.Option(help="Bundle name (default: k8s-<version>-<arch>).")
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            help="Artifact directory (default: TAICHU_ARTIFACTS__DIR or <data dir>/artifacts)."
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="Directory of the Go-built binaries (default: the lab's cache bin/)."),
    ] = None,
    runc: Annotated[
        Path | None, typer.Option(help="runc (default /usr/sbin/runc or /usr/bin/runc).")
    ] = None,
    cni_dir: Annotated[Path, typer.Option(help="CNI plugins directory.")] = Path("/usr/lib/cni"),
    busybox: Annotated[Path, typer.Option(help="A static busybox.")] = Path("/bin/busybox"),
    component: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VERSION for a binary that cannot say its version (repeatable)."),
    ] = None,
) -> None:
    """Make (or confirm up to date) a bundle: binaries, CNI plugins, images, manifest."""
    sources = Sources(lab_bin=source or _lab_bin(), runc=runc, cni_dir=cni_dir, busybox=busybox)
    target = dest or _dest()
    try:
        result = build(
            sources,
            target,
            name=name,
            overrides=_overrides(component or []),
            say=lambda line: err.print(line, markup=False),
        )
    except BuildError as e:
        err.print(f"artifact build failed: {e}", style="red", markup=False)
        raise typer.Exit(1) from None
    m = result.manifest
    verb = "made" if result.changed else "up to date:"
    versions = ", ".join(f"{k} {v}" for k, v in m.components.items())
    typer.echo(f"{verb} bundle {m.name} at {result.root}")
    typer.echo(f"  {len(m.files)} files, {m.size_bytes / 2**20:.1f} MiB, {m.arch}; {versions}")
    for image in m.images:
        typer.echo(f"  image {image.purpose}: {image.name} ({image.path})")
