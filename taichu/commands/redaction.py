"""The command as shown in history and audit records, with secrets replaced by `***`.

Redacts: values of flags whose name says secret (`--token`, `--password`,
`--docker-password`, …), every `--from-literal` value (`--from-literal=k=***`), KEY=VALUE
words whose key says secret (`set env DB_PASSWORD=…`), the whole patch of a Secret and
secret-named fields of any other patch, bearer tokens, JWTs and passwords in URLs.
Never raises: a command that cannot be read is redacted by pattern.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from taichu.commands import kubectl_flags as kf
from taichu.commands.shellwords import ShellSyntax, split

REDACTED = "***"
SECRET_NAME = re.compile(
    r"pass|token|secret|credential|api[-_]?key|private[-_]?key|bearer|authorization", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_URL_PASSWORD = re.compile(r"(://[^/@:\s]+:)[^/@\s]+@")
_JSON_SECRET = re.compile(
    r"""(["']?[\w.-]*(?:pass|token|secret|credential)[\w.-]*["']?\s*:\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'[^']*'|[^,}\s]+)""",
    re.I,
)
_SAFE_WORD = re.compile(r"[\w@%+=:,./-]+")
# For text that cannot be split into words.
_RAW_RULES = (
    (re.compile(r"(--from-literal(?:=|\s+)[^=\s]+=)('[^']*'|\"[^\"]*\"|\S+)"), r"\1***"),
    (
        re.compile(
            r"(--?[\w-]*(?:pass|token|secret|credential|api[-_]?key)[\w-]*(?:=|\s+))"
            r"('[^']*'|\"[^\"]*\"|\S+)",
            re.I,
        ),
        r"\1***",
    ),
    (re.compile(r"([\w.-]*(?:pass|token|secret)[\w.-]*=)('[^']*'|\"[^\"]*\"|\S+)", re.I), r"\1***"),
)


def _generic(word: str) -> str:
    word = _BEARER.sub(r"\1" + REDACTED, word)
    word = _JWT.sub(REDACTED, word)
    word = _URL_PASSWORD.sub(r"\1" + REDACTED + "@", word)
    key, eq, _ = word.partition("=")
    if eq and SECRET_NAME.search(key):
        return f"{key}={REDACTED}"
    if word.lstrip().startswith("{"):
        word = _JSON_SECRET.sub(lambda m: m.group(1) + '"' + REDACTED + '"', word)
    return word


def _value(name: str, value: str, secret_target: bool) -> str:
    if SECRET_NAME.search(name):
        return REDACTED
    if name == "from-literal":
        return f"{value.partition('=')[0]}={REDACTED}"
    if name == "patch" and secret_target:
        return REDACTED
    return _generic(value)


def _roles(argv: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The subcommand path and, per word, its role: "cmd", "pos", "flag" or "=<name>" for a
    word that is the value of flag <name>."""
    cmd = kf.TABLE[()]
    roles = ["cmd"] + ["pos"] * (len(argv) - 1)
    settled = False
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            roles[i] = "flag"
            break
        if len(word) > 1 and word[0] == "-":
            roles[i] = "flag"
            if "=" not in word:
                if word.startswith("--"):
                    name = word[2:].replace("_", "-")
                    kind = cmd.flags.get(name) or ("V" if SECRET_NAME.search(name) else "B")
                else:
                    name = cmd.shorts.get(word[-1], "")
                    kind = cmd.flags.get(name, "B")
                    if len(word) > 2 and cmd.flags.get(cmd.shorts.get(word[1], ""), "B") == "V":
                        kind = "B"  # `-pVALUE`: the value is in this word
                if kind == "V" and i + 1 < len(argv):
                    roles[i + 1] = "=" + name
                    i += 2
                    continue
        elif not settled and word in cmd.children:
            roles[i] = "cmd"
            cmd = kf.TABLE[cmd.children[word]]
        else:
            settled = True
        i += 1
    return cmd.path, roles


def _flag_word(word: str, cmd: kf.Command, secret_target: bool) -> str:
    if word.startswith("--"):
        raw, eq, value = word[2:].partition("=")
        if eq:
            return f"--{raw}={_value(raw.replace('_', '-'), value, secret_target)}"
        return word
    name = cmd.shorts.get(word[1:2], "")
    if len(word) > 2 and cmd.flags.get(name) == "V":
        glue = "=" if word[2] == "=" else ""
        return word[:2] + glue + _value(name, word[2 + len(glue) :], secret_target)
    return _generic(word)


def _quote(word: str) -> str:
    # `***` is left bare for reading; any other `*` is quoted, as the user had to.
    return word if _SAFE_WORD.fullmatch(word.replace(REDACTED, "x")) else shlex.quote(word)


def redact_command(argv: Sequence[str]) -> str:
    """One display string of `argv` with secrets replaced by `***`."""
    try:
        path, roles = _roles(argv)
        cmd = kf.TABLE[path]
        positional = [w for w, r in zip(argv, roles, strict=True) if r == "pos"]
        secret_target = path[:2] == ("create", "secret") or any(
            w.lower().startswith("secret") for w in positional[:1]
        )
        out = []
        for word, role in zip(argv, roles, strict=True):
            if role.startswith("="):
                out.append(_value(role[1:], word, secret_target))
            elif role == "flag":
                out.append(_flag_word(word, cmd, secret_target))
            else:
                out.append(_generic(word))
    except Exception:  # never let a display string fail a request or a refusal record
        out = [_generic(str(w)) for w in argv]
    return " ".join(_quote(w) for w in out)


def redact_text(command: str) -> str:
    """`redact_command` for a command line, also one that cannot be split into words."""
    try:
        return redact_command(split(command))
    except ShellSyntax:
        pass
    for pattern, replacement in _RAW_RULES:
        command = pattern.sub(replacement, command)
    return _URL_PASSWORD.sub(
        r"\1" + REDACTED + "@", _JWT.sub(REDACTED, _BEARER.sub(r"\1***", command))
    )
