"""Secret keys of access keys issued by an in-process moto, to check tokens' signatures."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def moto_secret_lookup(static: Mapping[str, str] | None = None) -> Callable[[str], str | None]:
    """A lookup over `static` pairs, then every access key moto has issued in this process."""
    known = dict(static or {})

    def lookup(access_key_id: str) -> str | None:
        if access_key_id in known:
            return known[access_key_id]
        from moto.iam.models import iam_backends  # noqa: PLC0415 - only when moto runs in-process

        for account in list(iam_backends.values()):
            for backend in list(account.values()):
                for key in list(backend.access_keys.values()):
                    if key.access_key_id == access_key_id:
                        return str(key.secret_access_key)
                for user in list(backend.users.values()):
                    for key in user.access_keys:
                        if key.access_key_id == access_key_id:
                            return str(key.secret_access_key)
        return None

    return lookup
