"""What may run as kubectl through the platform. Pure logic, no I/O.

`parse_command` turns a command line into kubectl's argv or refuses it with a reason a user
can act on. It models what kubectl itself will do with the words — cobra finding the
subcommand, pflag parsing flags (values glued or separate, grouped shorthands, `--`,
`_` read as `-`) — so that no word can be a flag to kubectl while being a value here.
Subcommands and flags are allow-listed (taichu/commands/kubectl_flags.py).

Decisions:
- `--raw` is refused everywhere: a raw request reaches any API path (`nodes/x/proxy/run`,
  `pods/x/exec`), around the subcommand allow-list.
- `-f -` only, and only with a manifest; a manifest the command does not read is refused too,
  rather than silently ignored.
- `--watch`, `--watch-only`, `--follow` only as `=false`. `rollout status` (which waits for
  the rollout, bounded by the run's timeout) stays allowed.
- `-o` formats by allow-list: the `*-file` formats read files on the platform server.
- `-v` up to 6: higher levels put request headers and bodies into stderr, i.e. history.
- Before the subcommand only flags that mean the same at every level it passes may appear
  (cobra and pflag would otherwise disagree about which word is the subcommand).
- A refused flag's name is refused even where kubectl would not read it as a flag (after
  `--`, as another flag's value), so one misjudged word is not enough to pass it; the cost
  is that `create job … -- prog --token=x` is refused too.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from taichu.commands import kubectl_flags as kf
from taichu.commands.redaction import redact_command, redact_text
from taichu.commands.shellwords import ShellSyntax, split

__all__ = ["CommandRefused", "is_change", "parse_command", "redact_command", "redact_text"]

MAX_VERBOSITY = 6  # -v 7 and up log request headers and bodies into stderr (history)
OUTPUT_FORMATS = {
    "json", "yaml", "kyaml", "name", "wide", "go-template", "template", "jsonpath",
    "jsonpath-as-json", "custom-columns", "plaintext", "plaintext-openapiv2",
}  # fmt: skip
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}  # Go's strconv.ParseBool
_READING = ("get", "describe", "logs", "top", "explain", "api-resources", "api-versions",
            "version", "cluster-info", "auth can-i", "events")  # fmt: skip
_CHANGING = ("create", "apply", "delete", "scale", "rollout", "label", "annotate", "patch",
             "set", "cordon", "uncordon", "drain", "taint")  # fmt: skip
_ALLOWED_TEXT = f"reading: {', '.join(_READING)}; changing: {', '.join(_CHANGING)}"


class CommandRefused(ValueError):
    """A command the platform will not run. `reason` names the offending word or flag;
    `command` is the command as given, with secrets redacted (for history and audit)."""

    def __init__(self, reason: str, command: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.command = command


class _Refuse(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class _Flag:
    name: str  # long name, normalised
    value: str | None  # None: given without a value (boolean / optional value)
    word: str  # as written, for messages


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("kubectl", *path))


def _normalise(name: str) -> str:
    return name.replace("_", "-")  # kubectl's flag normaliser (cliflag.WordSepNormalizeFunc)


def _unknown_flag(cmd: kf.Command, name: str, written: str) -> _Refuse:
    # kubectl's own flag names are case-sensitive (`--Server` is unknown to it too), but
    # the reason is more useful than "not allowed".
    reason = kf.DENIED.get(name.lower()) or kf.FALSE_ONLY.get(name.lower())
    if name == "filename":
        reason = "is not taken by this subcommand"
    if reason:
        return _Refuse(f"flag {written} is refused: it {reason}")
    where = f"`{_name(cmd.path)}`" if cmd.path else "kubectl before the subcommand"
    return _Refuse(
        f"flag {written} is not allowed for {where}: only the flags on the platform's "
        "allow-list are accepted (see `kubectl <subcommand> --help`; check the spelling)"
    )


def _flag_word(cmd: kf.Command, word: str, following: list[str]) -> tuple[list[_Flag], int]:
    """Parse one flag word as pflag does; returns the flags and how many following words
    they took as values (0 or 1)."""
    if word.startswith("--"):
        body = word[2:]
        if not body or body[0] in "-=":
            raise _Refuse(f"{word!r} is not a valid flag")
        raw, eq, value = body.partition("=")
        name = _normalise(raw)
        kind = cmd.flags.get(name)
        if kind is None:
            raise _unknown_flag(cmd, name, f"--{raw}")
        if eq:
            return [_Flag(name, value, word)], 0
        if kind in "BO":
            return [_Flag(name, None, word)], 0
        if not following:
            raise _Refuse(f"flag --{raw} needs a value")
        return [_Flag(name, following[0], word)], 1
    shorts = word[1:]
    flags: list[_Flag] = []
    while shorts:
        c = shorts[0]
        name = cmd.shorts.get(c)
        if name is None:
            denied = kf.DENIED_SHORT.get(c)
            raise _unknown_flag(cmd, denied or "", f"-{c}" + (f" (--{denied})" if denied else ""))
        kind = cmd.flags[name]
        if len(shorts) > 2 and shorts[1] == "=":
            return [*flags, _Flag(name, shorts[2:], word)], 0
        if kind in "BO":
            flags.append(_Flag(name, None, word))
            shorts = shorts[1:]
            continue
        if len(shorts) > 1:
            return [*flags, _Flag(name, shorts[1:], word)], 0
        if not following:
            raise _Refuse(f"flag -{c} needs a value")
        return [*flags, _Flag(name, following[0], word)], 1
    return flags, 0


def _cobra_skips(cmd: kf.Command, word: str) -> int:
    """How many following words cobra's stripFlags skips as this flag's value while it
    looks for the subcommand (it ignores grouped shorthands)."""
    if "=" in word:
        return 0
    if word.startswith("--"):
        kind = cmd.flags.get(_normalise(word[2:]))
    elif len(word) == 2:
        kind = cmd.flags.get(cmd.shorts.get(word[1], ""))
    else:
        return 0
    return 0 if kind in ("B", "O") else 1


def _is_flag(word: str) -> bool:
    return len(word) > 1 and word[0] == "-"


def _find(words: list[str]) -> tuple[kf.Command, list[str]]:
    """Find the subcommand as cobra does; returns it and the words without the subcommand
    names. Only flags known to the level they are written at may precede a subcommand."""
    cmd = kf.TABLE[()]
    rest: list[str] = []
    seen: list[tuple[str, str]] = []  # flags before the subcommand: (name, kind)
    i = 1
    while i < len(words) and (cmd.children or not cmd.path):
        word = words[i]
        if word == "--":
            raise _Refuse(f"`--` cannot come before the subcommand of `{_name(cmd.path)}`")
        if _is_flag(word):
            flags, took = _flag_word(cmd, word, words[i + 1 : i + 2])
            if took != _cobra_skips(cmd, word):
                raise _Refuse(
                    f"write {word} as separate flags after the subcommand: kubectl would "
                    "read the words around it differently"
                )
            seen.extend((f.name, cmd.flags[f.name]) for f in flags)
            rest.extend(words[i : i + 1 + took])
            i += 1 + took
            continue
        path = cmd.children.get(word)
        if path is None:
            raise _Refuse(_unknown_subcommand(cmd.path, word))
        child = kf.TABLE[path]
        for name, kind in seen:
            if child.flags.get(name) != kind:
                raise _Refuse(f"put --{name} after the subcommand `{_name(path)}`")
        cmd = child
        i += 1
    if not cmd.path:
        raise _Refuse(f"give a kubectl subcommand ({_ALLOWED_TEXT})")
    if cmd.path in kf.GROUPS:
        options = ", ".join(sorted({p[-1] for p in cmd.children.values()}))
        raise _Refuse(f"`{_name(cmd.path)}` needs one of its subcommands: {options}")
    return cmd, rest + words[i:]


def _unknown_subcommand(path: tuple[str, ...], word: str) -> str:
    refused = kf.REFUSED_SUBCOMMANDS.get((*path, word))
    if refused:
        return f"`{_name((*path, word))}` is refused: it {refused}"
    if not path:
        if word.startswith("-"):
            return f"{word!r} is not a flag kubectl accepts"
        return (
            f"`kubectl {word}` is not an allowed subcommand (plugins and other subcommands "
            f"are refused). Allowed — {_ALLOWED_TEXT}"
        )
    if path == ("auth",):
        return f"`kubectl auth {word}` is refused: only `auth can-i` is allowed"
    options = ", ".join(sorted({p[-1] for p in kf.TABLE[path].children.values()}))
    return f"`{_name(path)} {word}` is not an allowed subcommand (allowed: {options})"


def _parse_flags(cmd: kf.Command, rest: list[str]) -> tuple[list[_Flag], list[str]]:
    """pflag's parse of the final command's words: flags and positional words."""
    flags: list[_Flag] = []
    positional: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            positional.extend(rest[i + 1 :])
            break
        if not _is_flag(word):
            positional.append(word)
            i += 1
            continue
        parsed, took = _flag_word(cmd, word, rest[i + 1 : i + 2])
        flags.extend(parsed)
        for flag in parsed:
            _check_hidden_flag(cmd, flag.value or "")
        i += 1 + took
    for word in positional:
        _check_hidden_flag(cmd, word)
    return flags, positional


def _check_hidden_flag(cmd: kf.Command, word: str) -> None:
    """Refuse a refused flag even where kubectl would not read it as one (after `--`, as
    another flag's value): one misjudged word must not be enough to pass it."""
    if not word.startswith("--"):
        return
    name = _normalise(word[2:].partition("=")[0])
    if name in kf.DENIED and name not in cmd.local:
        raise _Refuse(
            f"{word!r} looks like the refused flag --{name} (it {kf.DENIED[name]}); "
            "it is refused even as a value or after `--`"
        )


def _check_flag(cmd: kf.Command, flag: _Flag, manifest: bool) -> None:
    if flag.name == "filename":
        if flag.value != "-":
            raise _Refuse(
                f"{flag.word} {flag.value or ''}".rstrip() + " is refused: kubectl may not read "
                "files or URLs from the platform server; send the manifest in the `manifest` "
                "field and write `-f -`"
            )
        if not manifest:
            raise _Refuse("`-f -` reads a manifest, but the request has none: send it in the "
                          "`manifest` field")  # fmt: skip
    elif flag.name in kf.FALSE_ONLY:
        if flag.value not in _FALSE:
            raise _Refuse(f"flag {flag.word} is refused: it {kf.FALSE_ONLY[flag.name]} "
                          f"(only --{flag.name}=false is accepted)")  # fmt: skip
    elif flag.name == "output" and flag.value is not None:
        fmt = flag.value.partition("=")[0]
        if fmt not in OUTPUT_FORMATS:
            hint = " (it reads a file on the platform server)" if fmt.endswith("file") else ""
            raise _Refuse(f"output format {fmt!r} is not allowed{hint}; use one of: "
                          f"{', '.join(sorted(OUTPUT_FORMATS))}")  # fmt: skip
    elif flag.name == "v" and flag.value is not None:
        if not flag.value.isdigit() or int(flag.value) > MAX_VERBOSITY:
            raise _Refuse(f"-v takes a level from 0 to {MAX_VERBOSITY} (higher levels log "
                          "request headers and bodies)")  # fmt: skip
    elif flag.name == "env" and flag.value == "-":
        raise _Refuse("`--env -` reads variables from stdin, which is not supported: give "
                      "KEY=VALUE words")  # fmt: skip


def _check_words(words: list[str]) -> None:
    if not words:
        raise _Refuse("the command is empty: write a kubectl command, e.g. `kubectl get pods`")
    first = words[0]
    if first != "kubectl":
        if "=" in first and first.partition("=")[0].replace("_", "a").isalnum():
            why = f"setting an environment variable ({first.partition('=')[0]}=…) is not allowed"
        elif first.endswith("/kubectl") or first.endswith("\\kubectl"):
            why = "give it without a path"
        elif first in ("env", "sudo", "exec", "command", "nohup", "time", "nice", "xargs"):
            why = f"`{first}` may not wrap it"
        elif any(ord(c) > 127 for c in first):
            why = f"{first!r} contains non-ASCII look-alike characters"
        else:
            why = f"{first!r} is not kubectl"
        raise _Refuse(f"the command must start with exactly `kubectl`: {why}")
    for word in words:
        dash = word[:1] in ("\u2212", "\ufe63") or (
            word[:1] not in ("", "-") and unicodedata.category(word[0]) == "Pd"
        )
        if dash:
            raise _Refuse(
                f"{word!r} starts with U+{ord(word[0]):04X} "
                f"({unicodedata.name(word[0], '?')}), not an ASCII '-': retype the dash"
            )


def parse_command(command: str, *, manifest: bool) -> list[str]:
    """kubectl's argv (argv[0] == "kubectl") for `command`, or CommandRefused. With
    `manifest`, the command must read it with `-f -` (the runner feeds it on stdin)."""
    try:
        try:
            words = split(command)
        except ShellSyntax as e:
            raise _Refuse(e.reason) from None
        _check_words(words)
        cmd, rest = _find(words)
        flags, _positional = _parse_flags(cmd, rest)
        for flag in flags:
            _check_flag(cmd, flag, manifest)
        files = [f for f in flags if f.name == "filename"]
        if len(files) > 1:
            raise _Refuse("give `-f -` only once")
        if manifest and not files:
            raise _Refuse(
                "the request has a manifest but the command does not read it: add `-f -` "
                "(e.g. `kubectl apply -f -`), or send no manifest"
            )
    except _Refuse as e:
        raise CommandRefused(e.reason, redact_text(command)) from None
    return words


def _locate(argv: list[str]) -> tuple[kf.Command, list[_Flag], list[str]] | None:
    try:
        cmd, rest = _find(argv)
        flags, positional = _parse_flags(cmd, rest)
    except (_Refuse, IndexError):
        return None
    return cmd, flags, positional


def is_change(argv: list[str]) -> bool:
    """Whether the command may change the cluster (a changing subcommand, not a dry run).
    Anything it cannot place counts as a change."""
    found = _locate(argv)
    if found is None:
        return True
    cmd, flags, _ = found
    if cmd.reads_only:
        return False
    # --local works on the manifest alone; --list (label, annotate, set env) only shows.
    if any(f.name in ("local", "list") and f.value not in _FALSE for f in flags):
        return False
    return not any(f.name == "dry-run" and f.value in ("client", "server") for f in flags)
