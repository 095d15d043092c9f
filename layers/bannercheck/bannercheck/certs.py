"""Certificate details (cryptography) and RFC 6125 name matching. Pure."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from bannercheck.model import Certificate


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return "unknown", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, None


@functools.lru_cache(maxsize=512)
def to_certificate(der: bytes) -> Certificate | None:
    """The facts a mail admin needs from a DER certificate; None if unparsable.

    Cached by content: the MX hosts of one provider share a few certificates.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(str(n).lower() for n in san.value.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        sans = ()
    common_names = tuple(
        str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    )
    key_type, key_bits = _key(cert)
    try:
        algorithm = cert.signature_hash_algorithm
        signature = algorithm.name if algorithm else cert.signature_algorithm_oid._name
    except Exception:  # noqa: BLE001 - unsupported algorithms raise assorted errors
        signature = None
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        common_names=common_names,
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(der).hexdigest(),
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=signature,
        self_signed=cert.subject == cert.issuer,
    )


def _matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if pattern == host:
        return True
    # RFC 6125 §6.4.3: a wildcard only as the whole left-most label, matching
    # exactly one label, never a public suffix like "*.com".
    if pattern.startswith("*.") and pattern.count(".") >= 2:
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def to_name_matches(cert: Certificate, host: str) -> bool:
    """Whether the certificate names cover ``host`` (DNS SANs; CN only without SANs)."""
    names = cert.sans or cert.common_names
    return any(_matches(name, host) for name in names)
