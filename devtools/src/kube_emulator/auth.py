"""Authentication like EKS: presigned-STS bearer tokens, checked as aws-iam-authenticator does.

A token is `k8s-aws-v1.` + base64url(presigned GetCallerIdentity URL). The authenticator accepts
only https URLs to an STS host, path `/`, the known query parameters, `Action=GetCallerIdentity`, a
signed `x-k8s-aws-id` header, `X-Amz-Expires` <= 900 and a date less than 15 minutes old. Real EKS
then sends the request to STS with `x-k8s-aws-id` set to *its own* cluster name, so STS's signature
check is what refuses a token minted for another cluster. The STS emulator (moto) does not check
signatures, so this module recomputes the SigV4 signature itself with the caller's secret key, then
asks STS who the caller is, rebuilding an Authorization header from the URL's X-Amz-* parameters.
The caller's ARN is mapped to a Kubernetes user and groups by access entries, as EKS does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kube_emulator.errors import ApiError

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME_SECONDS = 15 * 60
_ALLOWED_PARAMS = {
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
}
# aws-iam-authenticator's allow-list: the global and regional STS endpoints of the partitions.
_STS_HOST = re.compile(
    r"^sts(-fips)?(\.[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d)?\.amazonaws\.com(\.cn)?$"
)
_ASSUMED_ROLE = re.compile(r"^arn:(aws[-a-z]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")


@dataclass(frozen=True)
class Identity:
    """An authenticated Kubernetes user."""

    username: str
    groups: tuple[str, ...]
    arn: str | None = None


@dataclass(frozen=True)
class AccessEntry:
    """EKS access entry: an IAM principal mapped to a Kubernetes username and groups."""

    principal_arn: str
    groups: tuple[str, ...] = ()
    username: str | None = None


@dataclass(frozen=True)
class StaticToken:
    """A fixed bearer token for an administrator of the local stack (off unless configured)."""

    token: str
    username: str
    groups: tuple[str, ...] = ("system:masters",)


SecretLookup = Callable[[str], str | None]


@dataclass
class EksAuthenticator:
    """Verifies EKS bearer tokens against one cluster name and an STS endpoint."""

    cluster_name: str
    sts_endpoint: str
    secret_for_access_key: SecretLookup
    access_entries: Sequence[AccessEntry]
    clock: Callable[[], float]
    static_tokens: Sequence[StaticToken] = field(default_factory=tuple)
    #: How long a token is accepted after its X-Amz-Date; EKS uses 15 minutes.
    token_lifetime_seconds: float = TOKEN_LIFETIME_SECONDS

    def authenticate(self, authorization: str | None) -> Identity:
        """The identity behind an Authorization header, or ApiError 401."""
        if not authorization or not authorization.startswith("Bearer "):
            raise _unauthorized()
        token = authorization.removeprefix("Bearer ").strip()
        for static in self.static_tokens:
            if hmac.compare_digest(static.token, token):
                return Identity(static.username, (*static.groups, "system:authenticated"))
        arn = self._verify_eks_token(token)
        return self._map(arn)

    def _verify_eks_token(self, token: str) -> str:
        parsed = _presigned_url(token)
        params = _query_params(parsed)
        signed = self._check_request({k.lower(): v for k, v in params.items()})
        self._check_signature(parsed, params, signed)
        return self._caller_arn(params)

    def _check_request(self, lower: Mapping[str, str]) -> list[str]:
        """The signed header names, once the URL is a GetCallerIdentity presigned recently."""
        if lower.get("action") != "GetCallerIdentity":
            raise _unauthorized()
        signed = lower.get("x-amz-signedheaders", "").split(";")
        if "x-k8s-aws-id" not in signed:
            raise _unauthorized()
        try:
            expires = int(lower.get("x-amz-expires", ""))
            signed_at = datetime.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except (KeyError, ValueError):
            raise _unauthorized() from None
        if expires > TOKEN_LIFETIME_SECONDS or expires <= 0:
            raise _unauthorized()
        if self.clock() > signed_at.timestamp() + self.token_lifetime_seconds:
            raise _unauthorized()
        return signed

    def _check_signature(
        self, parsed: urllib.parse.SplitResult, params: Mapping[str, str], signed: list[str]
    ) -> None:
        credential = params.get("X-Amz-Credential", "")
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise _unauthorized()
        access_key, date, region, service, _ = parts
        secret = self.secret_for_access_key(access_key)
        if secret is None:
            raise _unauthorized()
        # The headers EKS sends when it replays the request: its own cluster name, not the caller's.
        headers = {"host": parsed.netloc, "x-k8s-aws-id": self.cluster_name}
        if any(name not in headers for name in signed):
            raise _unauthorized()
        query = "&".join(
            f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()) if k != "X-Amz-Signature"
        )
        canonical = "\n".join(
            [
                "GET",
                "/",
                query,
                "".join(f"{name}:{headers[name]}\n" for name in signed),
                ";".join(signed),
                hashlib.sha256(b"").hexdigest(),
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                params.get("X-Amz-Date", ""),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{secret}".encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
            raise _unauthorized()

    def _caller_arn(self, params: Mapping[str, str]) -> str:
        headers = {
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={params['X-Amz-Credential']}, "
                f"SignedHeaders={params['X-Amz-SignedHeaders']}, "
                f"Signature={params['X-Amz-Signature']}"
            ),
            "X-Amz-Date": params["X-Amz-Date"],
            "Accept": "application/json",
        }
        if token := params.get("X-Amz-Security-Token"):
            headers["X-Amz-Security-Token"] = token
        url = f"{self.sts_endpoint.rstrip('/')}/?Action=GetCallerIdentity&Version=2011-06-15"
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                body = response.read().decode()
        except OSError:
            raise _unauthorized() from None
        match = re.search(r"<Arn>([^<]+)</Arn>", body) or re.search(r'"Arn"\s*:\s*"([^"]+)"', body)
        if not match:
            raise _unauthorized()
        return match.group(1)

    def _map(self, arn: str) -> Identity:
        principal, session = canonical_principal(arn)
        for entry in self.access_entries:
            if entry.principal_arn == principal:
                username = (entry.username or arn).replace("{{SessionName}}", session or "")
                return Identity(username, (*entry.groups, "system:authenticated"), arn)
        raise _unauthorized()


def _presigned_url(token: str) -> urllib.parse.SplitResult:
    """The presigned URL a token carries, when it points at STS's root path over https."""
    if not token.startswith(TOKEN_PREFIX):
        raise _unauthorized()
    encoded = token.removeprefix(TOKEN_PREFIX)
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _unauthorized() from None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not _STS_HOST.match(parsed.hostname or ""):
        raise _unauthorized()
    if parsed.path != "/":
        raise _unauthorized()
    return parsed


def _query_params(parsed: urllib.parse.SplitResult) -> dict[str, str]:
    """The URL's query; unknown or repeated parameters are refused (as aws-iam-authenticator)."""
    params: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        if key.lower() not in _ALLOWED_PARAMS or key in params:
            raise _unauthorized()
        params[key] = value
    return params


def canonical_principal(arn: str) -> tuple[str, str | None]:
    """The IAM principal an access entry names: an assumed-role session maps to its role."""
    if m := _ASSUMED_ROLE.match(arn):
        partition, account, role, session = m.groups()
        return f"arn:{partition}:iam::{account}:role/{role}", session
    return arn, None


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def _unauthorized() -> ApiError:
    # The real API server gives no hint why a token was refused.
    return ApiError(401, "Unauthorized")
