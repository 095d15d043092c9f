"""The lab's certificates: one test CA and leaf certificates, made at lab start.

ECDSA P-256 keys: generating sixty of them takes milliseconds, RSA would take seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A name no lab host has: the "certificate for the wrong name" case.
WRONG_NAME = "wrong-name.elsewhere.test"


class TlsKind(str, Enum):
    """What a server presents after STARTTLS."""

    NONE = "none"  # STARTTLS not offered
    LAB_CA = "lab_ca"  # issued by the lab CA for the host's name: verifies with lab.ca_file
    SELF_SIGNED = "self_signed"
    EXPIRED = "expired"  # lab CA, right name, not_after in the past
    WRONG_NAME = "wrong_name"  # lab CA, valid, but for WRONG_NAME


@dataclass(frozen=True)
class CertFiles:
    """A PEM certificate chain (leaf first) and its private key, on disk."""

    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bannercheck test lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LabCA:
    """A throw-away certificate authority that issues the lab's server certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = _key()
        now = dt.datetime.now(dt.UTC)
        subject = _name("bannercheck lab CA")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = directory / "lab-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        # One key for every leaf: the lab tests names and dates, not key separation.
        self._leaf_key = _key()
        self._leaf_key_file = directory / "leaf.key"
        self._leaf_key_file.write_bytes(_key_pem(self._leaf_key))

    def issue(self, host: str, kind: TlsKind) -> CertFiles:
        """Write the certificate ``kind`` describes for ``host``; return its files."""
        if kind is TlsKind.NONE:
            raise ValueError("TlsKind.NONE has no certificate")
        now = dt.datetime.now(dt.UTC)
        name = WRONG_NAME if kind is TlsKind.WRONG_NAME else host
        if kind is TlsKind.EXPIRED:
            not_before, not_after = now - dt.timedelta(days=400), now - dt.timedelta(days=35)
        else:
            not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=20)
        key = _key() if kind is TlsKind.SELF_SIGNED else self._leaf_key
        issuer_key = key if kind is TlsKind.SELF_SIGNED else self._key
        issuer = _name(name) if kind is TlsKind.SELF_SIGNED else self.cert.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if kind is not TlsKind.SELF_SIGNED:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        cert = builder.sign(issuer_key, hashes.SHA256())
        stem = f"{host}.{kind.value}"
        cert_file = self.directory / f"{stem}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if kind is TlsKind.SELF_SIGNED:
            key_file = self.directory / f"{stem}.key"
            key_file.write_bytes(_key_pem(key))
        else:
            key_file = self._leaf_key_file
        return CertFiles(cert=cert_file, key=key_file)
