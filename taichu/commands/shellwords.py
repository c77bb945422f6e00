"""Split a command line into words the way a POSIX shell (sh, bash) would, without expanding
anything, and refuse everything a shell would treat as syntax rather than as literal text.

No shell ever runs the result, so the rule is: a word is accepted only when a shell would
hand exactly these characters to the program. Anything a shell would interpret — operators
(`;` `|` `&` `<` `>` `(` `)`), expansions (`$…`, backticks, `~`, `{a,b}`), comments — is
refused with a reason naming it, unless it is quoted (then it is literal, as in a shell):
`-l 'app=a;b'` is the argument `app=a;b`.

Decisions:
- Unquoted glob characters (`*` `?` `[`) are refused: a shell expands them against files
  (`/etc/pass*`, `../*`, and `.*` even in an empty directory), so no unquoted form has one
  meaning. Quote them: `-o jsonpath='{.items[*].name}'`, as kubectl's documentation does.
- `!` stays literal (history expansion only exists in interactive shells): `status!=Running`.
- `$` is refused even where sh would keep it (`a$`), because `$'…'`, `$"…"` and `$name`
  differ between shells; quote it with single quotes.
- Newlines, NUL and other control characters are refused even inside quotes; unquoted tab
  separates words as in a shell. Unicode spaces, invisible format characters (zero-width,
  bidi overrides) and private-use characters are refused: they make a command read
  differently from what runs.
"""

from __future__ import annotations

import re
import unicodedata

MAX_COMMAND_CHARS = 32768
MAX_WORDS = 1000

_SEQUENCE = re.compile(r"(-?\d+\.\.-?\d+|[A-Za-z]\.\.[A-Za-z])(\.\.-?\d+)?")


class ShellSyntax(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _quote_hint(what: str) -> str:
    return (
        f"{what} is shell syntax, and commands never run through a shell; "
        "put it in single quotes if you mean it literally"
    )


def _check_characters(command: str) -> None:
    for ch in command:
        code = ord(ch)
        if ch == "\t" or (32 <= code < 127):
            continue
        if ch in "\n\r":
            raise ShellSyntax(
                "the command contains a line break: give one kubectl command on one line"
            )
        if ch == "\0":
            raise ShellSyntax("the command contains a NUL character")
        category = unicodedata.category(ch)
        name = unicodedata.name(ch, "control character")
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"):
            raise ShellSyntax(
                f"the command contains U+{code:04X} ({name}): only ordinary spaces and tabs "
                "may separate words, and invisible characters are not allowed"
            )


def _operator(command: str, i: int, word: list[str]) -> str:
    """Name the shell operator starting at command[i] (an unquoted metacharacter)."""
    ch = command[i]
    two = command[i : i + 2]
    three = command[i : i + 3]
    if ch == ";":
        return "`;;`" if two == ";;" else "`;` (command separator)"
    if ch == "&":
        if two == "&&":
            return "`&&` (command list)"
        if two == "&>":
            return "redirection `&>`"
        return "`&` (background job)"
    if ch == "|":
        if two == "||":
            return "`||` (command list)"
        return "`|&` (pipe)" if two == "|&" else "`|` (pipe)"
    if ch in "()":
        return f"`{ch}` (subshell or grouping)"
    # A redirection: digits right before it are its file descriptor (`2>`).
    fd = "".join(word) if word and "".join(word).isdigit() else ""
    if ch == "<":
        if three == "<<<":
            return f"here-string `{fd}<<<`"
        if two == "<<":
            return f"here-document `{fd}<<`"
        if two == "<(":
            return "process substitution `<(…)`"
        if two in ("<&", "<>"):
            return f"redirection `{fd}{two}`"
        return f"redirection `{fd}<`"
    if two == ">(":
        return "process substitution `>(…)`"
    if two in (">>", ">&", ">|"):
        return f"redirection `{fd}{two}`"
    return f"redirection `{fd}>`"


def _dollar(command: str, i: int) -> str:
    rest = command[i + 1 : i + 3]
    if rest.startswith("(("):
        return "arithmetic expansion `$((…))`"
    if rest.startswith("("):
        return "command substitution `$(…)`"
    if rest.startswith("{"):
        return "parameter expansion `${…}`"
    if rest.startswith("'"):
        return "ANSI-C quoting `$'…'`"
    if rest.startswith('"'):
        return 'locale quoting `$"…"`'
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9?#$!@*-]", command[i + 1 :])
    if m:
        return f"variable expansion `${m.group(0)}`"
    return "`$`"


def _check_braces(chars: list[str], quoted: list[bool]) -> None:
    """Refuse bash brace expansion (`{a,b}`, `{1..3}`) in a word's unquoted text."""
    for start, ch in enumerate(chars):
        if ch != "{" or quoted[start]:
            continue
        depth, comma = 0, False
        for j in range(start, len(chars)):
            if quoted[j]:
                continue
            if chars[j] == "{":
                depth += 1
            elif chars[j] == "}":
                depth -= 1
                if depth == 0:
                    inner = "".join(chars[start + 1 : j])
                    if comma or (_SEQUENCE.fullmatch(inner) and not any(quoted[start + 1 : j])):
                        raise ShellSyntax(_quote_hint(f"brace expansion `{{{inner}}}`"))
                    break
            elif chars[j] == "," and depth == 1:
                comma = True


def split(command: str) -> list[str]:
    """The words a shell would pass to the program, or ShellSyntax naming what is refused."""
    if len(command) > MAX_COMMAND_CHARS:
        raise ShellSyntax(f"the command is longer than {MAX_COMMAND_CHARS} characters")
    _check_characters(command)
    words: list[str] = []
    chars: list[str] = []  # the current word
    quoted: list[bool] = []  # whether each of its characters came from quotes/escapes
    in_word = False
    i, n = 0, len(command)

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            _check_braces(chars, quoted)
            words.append("".join(chars))
            if len(words) > MAX_WORDS:
                raise ShellSyntax(f"the command has more than {MAX_WORDS} words")
        chars.clear()
        quoted.clear()
        in_word = False

    def add(ch: str, is_quoted: bool) -> None:
        chars.append(ch)
        quoted.append(is_quoted)

    while i < n:
        ch = command[i]
        if ch in " \t":
            end_word()
            i += 1
            continue
        if ch == "\\":
            if i + 1 >= n:
                raise ShellSyntax("the command ends with a lone backslash")
            add(command[i + 1], True)
            in_word = True
            i += 2
            continue
        if ch == "'":
            close = command.find("'", i + 1)
            if close < 0:
                raise ShellSyntax("a single quote (') is not closed")
            for c in command[i + 1 : close]:
                add(c, True)
            in_word = True
            i = close + 1
            continue
        if ch == '"':
            i += 1
            while True:
                if i >= n:
                    raise ShellSyntax('a double quote (") is not closed')
                c = command[i]
                if c == '"':
                    break
                if c == "\\" and i + 1 < n and command[i + 1] in '$`"\\':
                    add(command[i + 1], True)
                    i += 2
                    continue
                if c == "$":
                    raise ShellSyntax(
                        f"{_dollar(command, i)} inside double quotes is shell syntax, and "
                        "commands never run through a shell; use single quotes for a literal $"
                    )
                if c == "`":
                    raise ShellSyntax(
                        "command substitution with backticks (`) inside double quotes is "
                        "shell syntax; use single quotes for a literal backtick"
                    )
                add(c, True)
                i += 1
            in_word = True
            i += 1
            continue
        if ch in ";&|<>()":
            raise ShellSyntax(_quote_hint(_operator(command, i, chars)))
        if ch == "$":
            raise ShellSyntax(_quote_hint(_dollar(command, i)))
        if ch == "`":
            raise ShellSyntax(_quote_hint("command substitution with backticks (`)"))
        if ch in "*?[":
            raise ShellSyntax(_quote_hint(f"the glob character `{ch}` (file name expansion)"))
        if ch == "#" and not in_word:
            raise ShellSyntax(_quote_hint("a comment (`#` at the start of a word)"))
        if ch == "~" and (not in_word or (chars and chars[-1] in "=:" and not quoted[-1])):
            raise ShellSyntax(_quote_hint("tilde expansion (`~`)"))
        add(ch, False)
        in_word = True
        i += 1
    end_word()
    return words
