"""Word splitting of commands (taichu/commands/shellwords.py): literal text as a shell would
pass it, shell syntax refused by name — and, for what is accepted, a real bash and dash
agree word for word."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taichu.commands.shellwords import MAX_COMMAND_CHARS, MAX_WORDS, ShellSyntax, split

LITERAL = [
    ("a b", ["a", "b"]),
    ("a\tb", ["a", "b"]),
    ("  a   b  ", ["a", "b"]),
    ("-l 'app=a;b'", ["-l", "app=a;b"]),
    ('-l "app=a;b"', ["-l", "app=a;b"]),
    ("-l app=a\\;b", ["-l", "app=a;b"]),
    (
        "'a|b' \"c&&d\" 'e > f' '$(id)' '`id`' '$HOME'",
        ["a|b", "c&&d", "e > f", "$(id)", "`id`", "$HOME"],
    ),
    ("kube'ctl' \"g\"et", ["kubectl", "get"]),
    ("k\\ubectl", ["kubectl"]),
    ("''", [""]),
    ("a '' b", ["a", "", "b"]),
    ('"a\\"b"', ['a"b']),
    ('"a\\$b"', ["a$b"]),
    ('"a\\\\b"', ["a\\b"]),
    ('"a\\nb"', ["a\\nb"]),  # in double quotes a backslash before n stays
    ("'a\\nb'", ["a\\nb"]),
    ("a\\ b", ["a b"]),
    ("'it'\\''s'", ["it's"]),
    ("-o 'jsonpath={.items[*].metadata.name}'", ["-o", "jsonpath={.items[*].metadata.name}"]),
    (
        "-o 'jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}'",
        ["-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'],
    ),
    ("--field-selector status.phase!=Running", ["--field-selector", "status.phase!=Running"]),
    ("'a*b' \"c?\" \\[x] a]", ["a*b", "c?", "[x]", "a]"]),
    ("a#b", ["a#b"]),
    ("a~b", ["a~b"]),
    ("'~' '#x' '{a,b}'", ["~", "#x", "{a,b}"]),
    ("{a} {..name} {a.b}", ["{a}", "{..name}", "{a.b}"]),
    ("description=中文说明", ["description=中文说明"]),
]


@pytest.mark.parametrize(("text", "words"), LITERAL)
def test_literal_text_is_split_like_a_shell(text: str, words: list[str]) -> None:
    assert split(text) == words


SYNTAX = [
    ("a ; b", "`;`"),
    ("a*", "glob character `*`"),
    ("-o jsonpath={.items[*].name}", "glob character `[`"),
    ("a .*", "glob character `*`"),
    ("/etc/pass?d", "glob character `?`"),
    ("x[ab]", "glob character `[`"),
    ("a;b", "`;`"),
    ("a | b", "`|` (pipe)"),
    ("a || b", "`||`"),
    ("a |& b", "`|&`"),
    ("a & b", "`&` (background"),
    ("a&", "`&` (background"),
    ("a && b", "`&&`"),
    ("a &> f", "`&>`"),
    ("a > f", "redirection `>`"),
    ("a >> f", "redirection `>>`"),
    ("a 2> f", "redirection `2>`"),
    ("a 2>&1", "redirection `2>&`"),
    ("a >| f", "`>|`"),
    ("a < f", "redirection `<`"),
    ("a << EOF", "here-document `<<`"),
    ("a <<< x", "here-string `<<<`"),
    ("a <(b)", "process substitution `<(…)`"),
    ("a >(b)", "process substitution `>(…)`"),
    ("(a)", "`(`"),
    ("a $(id)", "command substitution `$(…)`"),
    ("a x$(id)", "command substitution `$(…)`"),
    ('a "$(id)"', "command substitution `$(…)` inside double quotes"),
    ("a $((1+1))", "arithmetic expansion"),
    ("a `id`", "backticks"),
    ('a "`id`"', "backticks"),
    ("a $HOME", "variable expansion `$HOME`"),
    ('a "$HOME"', "variable expansion `$HOME`"),
    ("a ${HOME}", "parameter expansion `${…}`"),
    ("a $1", "`$1`"),
    ("a $?", "`$?`"),
    ("a $'x'", "ANSI-C quoting"),
    ('a $"x"', "locale quoting"),
    ("a b$", "`$`"),
    ("a {b,c}", "brace expansion `{b,c}`"),
    ("a x{1..3}", "brace expansion `{1..3}`"),
    ("a ~", "tilde expansion"),
    ("a ~root/x", "tilde expansion"),
    ("a --kubeconfig=~/x", "tilde expansion"),
    ("a #comment", "comment"),
    ("a\nb", "line break"),
    ("a 'x\ny'", "line break"),
    ("a\rb", "line break"),
    ("a\0b", "NUL"),
    ("a\x1bb", "U+001B"),
    ("a\u00a0b", "U+00A0"),
    ("a\u3000b", "U+3000"),
    ("a\u200bb", "U+200B"),
    ("a\u202eb", "U+202E"),
    ("a\ufeffb", "U+FEFF"),
    ("a 'b", "single quote"),
    ('a "b', "double quote"),
    ("a b\\", "lone backslash"),
]


@pytest.mark.parametrize(("text", "named"), SYNTAX)
def test_shell_syntax_is_refused_by_name(text: str, named: str) -> None:
    with pytest.raises(ShellSyntax) as e:
        split(text)
    assert named in e.value.reason


def test_size_limits() -> None:
    with pytest.raises(ShellSyntax, match="longer than"):
        split("a" * (MAX_COMMAND_CHARS + 1))
    with pytest.raises(ShellSyntax, match="more than"):
        split("a " * (MAX_WORDS + 1))
    assert len(split("a " * MAX_WORDS)) == MAX_WORDS


SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]


def _shell_words(shell: str, text: str, cwd: Path) -> list[str]:
    # The shell prints the words it would pass to a program, NUL-separated.
    run = subprocess.run(
        [shell, "-c", "printf '%s\\0' " + text],
        capture_output=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        timeout=10,
        check=True,
    )
    return run.stdout.decode().split("\0")[:-1]


@pytest.mark.skipif(not SHELLS, reason="no bash or dash on this machine")
@pytest.mark.parametrize(("text", "words"), [x for x in LITERAL if x[1] != [""]])
def test_real_shells_agree_on_the_literal_cases(
    text: str, words: list[str], tmp_path: Path
) -> None:
    for shell in SHELLS:
        assert _shell_words(shell, text, tmp_path) == words, shell


# Benign characters weigh more, so that enough random text is accepted to compare.
ALPHABET = list("ab-=:,./*?[]{}!#~;|&<>()$`\"'\\ \t2") + list("aab  '\"\\") * 3


@pytest.mark.skipif(not SHELLS, reason="no bash or dash on this machine")
def test_what_is_accepted_is_exactly_what_a_shell_passes(tmp_path: Path) -> None:
    accepted = []

    @settings(max_examples=500, deadline=None, database=None)
    @given(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=16).map("".join))
    def check(text: str) -> None:
        try:
            words = split(text)
        except ShellSyntax:
            return
        if not words:
            return  # printf with no words prints its format once: nothing to compare
        accepted.append(text)
        for shell in SHELLS:
            assert _shell_words(shell, text, tmp_path) == words, (shell, text)

    check()
    assert len(accepted) > 40  # the alphabet must leave enough accepted text to compare
