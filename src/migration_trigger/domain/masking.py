"""Masking credentials in what a migration tool printed: pure string rules, no I/O.

Two kinds of rule, in this order:

1. Every form of a known password, longest first: as it is, percent-encoded (any choice of
   escaped characters, either case of hex), `+` for a space, JSON-escaped, shell-quoted or as a
   Python repr (a password holding `'` or `\\`), and base64 (alone, as `user:password`, or
   inside a longer base64 text). Exact whatever characters it holds.
2. Patterns, for a password the function does not know: the userinfo of any URL, and the value
   of a `…PASSWORD=` (or `…PWD=`) assignment. A pattern cannot know where an unknown password
   ends, so it errs on the side of hiding: a URL's userinfo runs to the last `@` of its line (the
   password may hold `@`), an assignment's value to the end of its line. It may hide more than the
   password; it never stops inside it.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import urllib.parse
from collections.abc import Callable, Iterable

MASK = "****"
#: The line that ends a log masked without its password (secret-arn mode): what was not masked.
PASSWORD_NOT_READ = (
    "[secret-arn mode: the function does not read the password, so only URL passwords and the "
    "values of ...PASSWORD and ...PWD variables are masked in this log; printed any other way, "
    "the password shows]"
)
#: What a result carries instead of the log tail when its profile keeps the tail out of results
#: (secret-arn by default: its log is masked by pattern alone).
TAIL_KEPT_IN_FUNCTION_LOG = (
    "[the log is in the function's log only (its 'migration log' line): this profile keeps it out "
    "of results and notifications (logTailInResult; the default for secret-arn, whose log can "
    "only be masked by pattern)]"
)


def shareable_tail(tail: str | None, *, share: bool) -> str | None:
    """The log tail a result may carry: as it is, or a pointer to the function's log."""
    return tail if share or not tail else TAIL_KEPT_IN_FUNCTION_LOG


#: Shortest base64 run masked where a password sits inside longer base64 text: shorter runs would
#: mask unrelated text and hide next to nothing of the password.
_MIN_BASE64_CORE = 8

# `scheme://user:` (user possibly empty, as in `redis://:password@host`): what a URL's password
# follows.
_USERINFO = re.compile(r"://[^\s:/?#@]*:")
# PGPASSWORD=…, DB_PASSWORD=…, MYSQL_PWD=…, --password=…, password=… in a URL's query, and JSON's
# "password": …; the value runs to the end of the line. The key starts where a run of name
# characters starts (the look-behind), so a long run is tried once, not from each of its characters.
_ASSIGNMENT = re.compile(
    r"""(?i)((?<![a-z0-9_.-])[a-z0-9_.-]*(?:password|passwd|pwd)(?:[ \t]*=|["'][ \t]*:)[ \t]*)"""
    r"""[^\s][^\r\n]*"""
)
_B64: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)


def mask(text: str, passwords: Iterable[str] = (), *, username: str = "") -> str:
    """`text` with every form of each password masked, then every pattern."""
    known = [p for p in dict.fromkeys(passwords) if p]
    for form in password_forms(known, username=username):
        text = text.replace(form, MASK)
    if known:
        text = _encoded(known).sub(MASK, text)
    return mask_patterns(text)


def mask_without_password(text: str) -> str:
    """`text` masked by the patterns alone, ending with a line that says so (secret-arn mode)."""
    if not text.strip():
        return text
    masked = mask_patterns(text)
    newline = "" if masked.endswith("\n") else "\n"
    return f"{masked}{newline}{PASSWORD_NOT_READ}\n"


def mask_patterns(text: str) -> str:
    """`text` with the userinfo of every URL and the value of every password assignment masked."""
    text = "\n".join(_mask_userinfo(line) for line in text.split("\n"))
    return _ASSIGNMENT.sub(rf"\1{MASK}", text)


def _mask_userinfo(line: str) -> str:
    """The line with everything from its first URL's password to its last `@` masked.

    A password may hold `@`, `/`, `:`, `#` or spaces: nothing short of the line's last `@` is sure
    to be past it. Whatever URLs follow on the line up to that `@` are masked with it; after it, no
    `@` is left to end another userinfo. One pass, no backtracking, however long the line.
    """
    start = _USERINFO.search(line)
    last = line.rfind("@")
    if start is None or last < start.end():
        return line
    return f"{line[: start.end()]}{MASK}{line[last:]}"


def password_forms(passwords: Iterable[str], *, username: str = "") -> list[str]:
    """The literal forms a tool may print of these passwords, longest first."""
    forms: set[str] = set()
    for password in passwords:
        if not password:
            continue
        forms |= {
            password,
            urllib.parse.quote(password, safe=""),
            urllib.parse.quote(password),  # `/` kept, as most URL builders keep it
            urllib.parse.quote_plus(password),
            json.dumps(password)[1:-1],
            json.dumps(password, ensure_ascii=False)[1:-1],
        }
        forms |= _quoted_forms(password)
        forms |= _base64_forms(password.encode())
        if username:
            forms |= _base64_forms(f"{username}:{password}".encode(), cores=False)
    return sorted(forms, key=len, reverse=True)


def _quoted_forms(password: str) -> set[str]:
    """The password as shells and Python quote it: single-quoted with each `'` closed, escaped
    and reopened (`'\\''` as sh users write it, `'"'"'` as shlex.quote does), and a repr's
    body (`\\'` inside single quotes, `\\\\` for a backslash)."""
    if "'" not in password and "\\" not in password:
        return set()
    return {
        "'" + password.replace("'", "'\\''") + "'",
        shlex.quote(password),
        repr(password)[1:-1],
        password.replace("\\", "\\\\").replace("'", "\\'"),
    }


def _base64_forms(data: bytes, *, cores: bool = True) -> set[str]:
    """Base64 of `data`, padded and not; with `cores`, also the runs that encode it wherever it
    sits in longer data: each 3-byte group boundary it may start after gives one such run."""
    forms: set[str] = set()
    for encode in _B64:
        whole = encode(data).decode()
        forms |= {whole, whole.rstrip("=")}
        if not cores:
            continue
        for skip in range(3):
            aligned = data[skip:]
            core = encode(aligned[: len(aligned) - len(aligned) % 3]).decode()
            if len(core) >= _MIN_BASE64_CORE:
                forms.add(core)
    return forms


def _encoded(passwords: list[str]) -> re.Pattern[str]:
    """Any percent- or JSON-encoding of any of the passwords, each character escaped or not."""
    ordered = sorted(passwords, key=len, reverse=True)
    return re.compile("|".join("".join(_any_form(c) for c in p) for p in ordered))


def _any_form(char: str) -> str:
    """A character as it is, percent-encoded (either case), JSON-escaped, or `+` for a space."""
    options = {re.escape(char), "".join(f"%{_hex(b)}" for b in char.encode())}
    short = json.dumps(char)[1:-1]
    if short != char:
        options.add(re.escape(short))
    units = char.encode("utf-16-be")
    options.add(
        "".join(rf"\\u{_hex(units[i])}{_hex(units[i + 1])}" for i in range(0, len(units), 2))
    )
    if char == "/":
        options.add(re.escape("\\/"))
    if char == " ":
        options.add(r"\+")
    return "(?:" + "|".join(sorted(options, key=len, reverse=True)) + ")"


def _hex(byte: int) -> str:
    """A byte's two hex digits, matching either case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{byte:02x}")
