"""Masking what a migration tool prints: every form of a known password, and patterns for the rest."""

from __future__ import annotations

import base64
import json
import re
import shlex
import urllib.parse

import pytest

from migration_trigger.domain.masking import (
    MASK,
    PASSWORD_NOT_READ,
    mask,
    mask_patterns,
    mask_without_password,
    password_forms,
)

#: Every character URLs and JSON treat specially, a space, a tab and a letter outside ASCII.
CANARY = "Canary-Pa55:/?#[]@!$&'()*+,;=%\" \\\tWörd~-do-not-leak"
USER = "app"


def b64(text: str, *, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


FORMS = {
    "as it is": CANARY,
    "percent-encoded (quote, safe='')": urllib.parse.quote(CANARY, safe=""),
    "percent-encoded, / kept (quote)": urllib.parse.quote(CANARY),
    "percent-encoded, lower-case hex": lower_hex(urllib.parse.quote(CANARY, safe="")),
    "form-encoded (quote_plus)": urllib.parse.quote_plus(CANARY),
    "JSON-escaped": json.dumps(CANARY)[1:-1],
    "JSON-escaped, UTF-8 kept": json.dumps(CANARY, ensure_ascii=False)[1:-1],
    "JSON-escaped, / escaped too": json.dumps(CANARY)[1:-1].replace("/", "\\/"),
    "base64": b64(CANARY),
    "base64 without padding": b64(CANARY).rstrip("="),
    "URL-safe base64": b64(CANARY, urlsafe=True),
    "base64 of user:password": b64(f"{USER}:{CANARY}"),
    "shell single-quoted, ' as '\\''": "'" + CANARY.replace("'", "'\\''") + "'",
    "shell single-quoted, ' as '\"'\"' (shlex.quote)": shlex.quote(CANARY),
    "Python repr, inside its quotes": repr(CANARY)[1:-1],
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_of_the_password_is_masked_and_the_line_around_it_kept(form: str):
    masked = mask(f"before {form} after", [CANARY], username=USER)

    assert masked == f"before {MASK} after"


@pytest.mark.parametrize(
    "printed",
    [
        "'it'\\''s-S3cret'",
        "'it'\"'\"'s-S3cret'",
        '"it\'s-S3cret"',
        "'it\\'s-S3cret'",
        "it\\'s-S3cret",
    ],
)
def test_a_password_with_a_quote_printed_shell_quoted_or_as_a_python_repr_is_masked(printed: str):
    masked = mask(f"password is {printed} here", ["it's-S3cret"])

    assert "S3cret" not in masked
    assert masked.startswith("password is ") and masked.endswith(" here") and MASK in masked


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy"], ids=["aligned", "after-1", "after-2"])
def test_the_password_inside_longer_base64_text_is_masked_wherever_it_sits(prefix: bytes):
    blob = base64.b64encode(prefix + CANARY.encode() + b"-and-more").decode()

    masked = mask(f"data: {blob}", [CANARY])

    # What stays beside the mask is at most the two partial 4-character groups at either edge,
    # which carry at most 2 bytes of the password each.
    kept = masked.removeprefix("data: ").replace(MASK, "")
    assert MASK in masked
    assert len(kept) <= len(base64.b64encode(b"-and-more")) + 8


def test_forms_are_masked_longest_first():
    forms = password_forms([CANARY], username=USER)

    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
    # The whole `user:password` header goes as one, not as the password's own base64 inside it.
    assert mask(f"Authorization: Basic {b64(f'{USER}:{CANARY}')}", [CANARY], username=USER) == (
        f"Authorization: Basic {MASK}"
    )


def test_a_url_printed_with_the_password_decoded_is_masked_to_its_host():
    line = f"connecting to postgresql://{USER}:{CANARY}@orders-db:5432/orders"

    assert mask(line, [CANARY]) == f"connecting to postgresql://{USER}:{MASK}@orders-db:5432/orders"


def test_without_the_password_a_url_is_masked_up_to_the_last_at_sign_of_its_line():
    # The password holds `@`, `/`, `#` and spaces: the pattern cannot stop at the first `@`.
    line = f"connecting to postgresql://{USER}:{CANARY}@orders-db:5432/orders (attempt 1)"

    masked = mask_patterns(line)

    assert masked == f"connecting to postgresql://{USER}:{MASK}@orders-db:5432/orders (attempt 1)"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("postgres://app:s3cret@db:5432/app", f"postgres://app:{MASK}@db:5432/app"),
        ("redis://:s3cret@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        (
            "from mysql://a:one@h1/db to postgresql://b:two@h2/db",
            f"from mysql://a:{MASK}@h2/db",
        ),
        ("https://example.com/path?q=1", "https://example.com/path?q=1"),
        (
            "user@example.com wrote: see https://docs/x",
            "user@example.com wrote: see https://docs/x",
        ),
    ],
    ids=["url", "no-user", "two-urls", "no-userinfo", "at-before-url"],
)
def test_url_userinfo_is_masked_whatever_the_url(line: str, expected: str):
    assert mask_patterns(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"PGPASSWORD={CANARY}", f"PGPASSWORD={MASK}"),
        (f"export DB_PASSWORD = {CANARY}", f"export DB_PASSWORD = {MASK}"),
        (f"MYSQL_PWD={CANARY}", f"MYSQL_PWD={MASK}"),
        (f"flyway -password={CANARY}", f"flyway -password={MASK}"),
        (
            f'{{"user": "app", "password": {json.dumps(CANARY)}}}',
            f'{{"user": "app", "password": {MASK}',
        ),
        (
            "password authentication failed for user app",
            "password authentication failed for user app",
        ),
        ("password_policy=strict", "password_policy=strict"),
    ],
    ids=["PGPASSWORD", "spaced", "MYSQL_PWD", "flag", "json", "prose", "other-key"],
)
def test_password_assignments_are_masked_to_the_end_of_their_line(line: str, expected: str):
    assert mask_patterns(line) == expected


def test_without_the_password_the_log_ends_with_a_line_saying_what_was_masked():
    log = f"connecting to postgresql://app:{CANARY}@db/app\nPGPASSWORD={CANARY}\ndone\n"

    masked = mask_without_password(log)

    assert masked.splitlines() == [
        f"connecting to postgresql://app:{MASK}@db/app",
        f"PGPASSWORD={MASK}",
        "done",
        PASSWORD_NOT_READ,
    ]
    assert mask_patterns(PASSWORD_NOT_READ) == PASSWORD_NOT_READ
    assert mask_without_password("") == ""


def test_a_password_in_none_of_these_forms_is_not_guessed_at():
    # Masking is exact: text merely resembling the password stays readable.
    assert mask("Canary-Pa55 is the project's codename", [CANARY]) == (
        "Canary-Pa55 is the project's codename"
    )


def test_masking_a_huge_log_stays_fast():
    import time

    # Long runs of name characters, `://x:` without `@`, and base64-like text: no backtracking.
    text = "\n".join(["a" * 100_000, "://x:" * 20_000, "x_" * 50_000, "A+/9" * 25_000])

    started = time.perf_counter()
    mask(text, [CANARY], username=USER)

    assert time.perf_counter() - started < 2.0
