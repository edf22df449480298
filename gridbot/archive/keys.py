"""The archive's RSA private keys, one per publickey_ver (several at once while a key is rotated: messages keep
the version they were encrypted with). encrypt_random_key is base64 of the message key encrypted with RSA PKCS#1
v1.5 (doc 91774 "解密": base64-decode, then decrypt with the private key of publickey_ver; Tencent's samples and
the SDK's users decrypt with PKCS1 padding, e.g. https://www.dongchuanmin.com/linux/3046.html). The keys are never
logged: errors name the version and the file, not the key."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .port import ArchiveUnavailable


class KeyMissing(Exception):
    """A message names a publickey_ver we hold no private key for."""


class PrivateKeys:
    def __init__(self, keys: dict[int, rsa.RSAPrivateKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_files(cls, files: Iterable[tuple[int, Path]]) -> PrivateKeys:
        keys = {}
        for ver, path in files:
            try:
                key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
            except OSError as exc:
                raise ArchiveUnavailable(f"GRIDBOT_ARCHIVE_PRIVATE_KEYS: 版本 {ver} 的私钥文件 {path} 读不了 "
                                         f"({type(exc).__name__})") from None
            except (ValueError, TypeError):
                raise ArchiveUnavailable(f"GRIDBOT_ARCHIVE_PRIVATE_KEYS: 版本 {ver} 的文件 {path} 不是 PEM 格式的"
                                         "无口令 RSA 私钥") from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ArchiveUnavailable(f"GRIDBOT_ARCHIVE_PRIVATE_KEYS: 版本 {ver} 的文件 {path} 不是 RSA 私钥")
            keys[ver] = key
        return cls(keys)

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def public_key(self, ver: int) -> rsa.RSAPublicKey:
        return self._keys[ver].public_key()

    def open(self, ver: int, encrypt_random_key: str) -> str:
        """The message key in clear (what DecryptData takes)."""
        key = self._keys.get(ver)
        if key is None:
            raise KeyMissing(f"no private key for publickey_ver {ver}: add it to GRIDBOT_ARCHIVE_PRIVATE_KEYS")
        try:
            return key.decrypt(base64.b64decode(encrypt_random_key), padding.PKCS1v15()).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise KeyMissing(f"encrypt_random_key does not open with the key of publickey_ver {ver}") from None

    def __repr__(self) -> str:   # never the key material
        return f"PrivateKeys(versions={self.versions})"


def seal(public_key: rsa.RSAPublicKey, random_key: str) -> str:
    """What WeCom does to a message key (for the embedded archive and tests)."""
    return base64.b64encode(public_key.encrypt(random_key.encode(), padding.PKCS1v15())).decode()


def new_key_file(path: Path, bits: int = 2048) -> None:
    """A new private key in PEM (the embedded archive's, made once; a county makes theirs and uploads the public
    half in the admin console)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
