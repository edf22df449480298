"""WeCom's archive through Tencent's native Finance SDK (libWeWorkFinanceSdk_C.so), as packaged by pywecomarchive
(the optional extra gridbot[archive]: Linux x86_64/arm64 and Windows wheels with the .so inside, MIT, typed; it
logs nothing, where pyweworkfinance logs the secret and each decrypted key at DEBUG). Everything else of gridbot
runs without it; `gridbot wecom check` says why it did not load."""
from __future__ import annotations

import ctypes
import json
import logging
import platform
import sys
from typing import Any

from .port import ArchiveUnavailable, Record

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'gridbot[archive]'（仅 Linux x86_64/arm64、Windows x64）"


# C++ extensions whose runtime clashes with the SDK's when they are loaded first: loading libWeWorkFinanceSdk_C.so
# after kiwisolver (matplotlib's, for the digest's chart) aborts the process ("free(): invalid pointer"); loaded
# before them, both work. bootstrap opens the archive when the app is built, before any chart is drawn; a process
# that loaded them already gets this sentence instead of an abort (tests/integration/test_archive.py).
CLASHING_MODULES = ("kiwisolver", "kiwisolver._cext")


def load_problem() -> str | None:
    """Why the SDK cannot be used on this machine, or None if its library loads."""
    try:
        from pywecomarchive._native import default_library  # noqa: PLC0415 - optional extra, loaded when wanted
        from pywecomarchive.errors import SdkError  # noqa: PLC0415 - optional extra, as above
    except ImportError:
        return f"未安装会话存档 SDK 包 pywecomarchive：{INSTALL_HINT}"
    clashing = [name for name in CLASHING_MODULES if name in sys.modules]
    if clashing:
        return (f"会话存档 SDK 须在 {clashing[0]}（matplotlib 绘图）之前载入，否则进程崩溃：本进程已先载入它，"
                "请重启进程（gridbot 在启动时即载入 SDK）")
    try:
        ctypes.CDLL(str(default_library()))
    except (SdkError, OSError) as exc:
        return (f"会话存档 SDK 的原生库 libWeWorkFinanceSdk_C.so 加载失败（{platform.system()} "
                f"{platform.machine()}：{exc}）：需 Linux x86_64/arm64 或 Windows x64")
    return None


class SdkArchive:
    """fetch / decrypt / media through the SDK. Built once per process (the SDK keeps its own HTTP session)."""

    name = "sdk"

    def __init__(self, corp_id: str, secret: str, timeout: int = 10) -> None:
        try:
            from pywecomarchive import WecomArchiveSdk  # noqa: PLC0415 - optional extra (gridbot[archive])
            from pywecomarchive.errors import SdkError  # noqa: PLC0415 - optional extra, as above
        except ImportError:
            raise ArchiveUnavailable(f"未安装会话存档 SDK 包 pywecomarchive：{INSTALL_HINT}") from None
        self._errors: tuple[type[BaseException], ...] = (SdkError, OSError)
        try:
            self._sdk: Any = WecomArchiveSdk(corp_id, secret, timeout=timeout)
        except self._errors as exc:   # the messages of pywecomarchive carry no credentials (its errors.py)
            raise ArchiveUnavailable(f"会话存档 SDK 初始化失败：{exc}"
                                     "（检查 GRIDBOT_ARCHIVE_SECRET 与企业 ID）") from None

    def fetch(self, seq: int, limit: int) -> list[Record]:
        try:
            response = self._sdk.get_chat_data(seq, limit)
        except self._errors as exc:
            raise ArchiveUnavailable(f"GetChatData 失败：{exc}") from None
        return [Record(seq=int(r.seq), msgid=r.msgid, publickey_ver=int(r.publickey_ver),
                       encrypt_random_key=r.encrypt_random_key, encrypt_chat_msg=r.encrypt_chat_msg)
                for r in response.chatdata]

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> str:
        from pydantic import TypeAdapter  # noqa: PLC0415 - comes with the optional extra

        try:
            value = self._sdk.decrypt_data(random_key, encrypt_chat_msg, adapter=TypeAdapter(dict[str, Any]))
        except self._errors as exc:
            raise ArchiveUnavailable(f"DecryptData 失败：{exc}") from None
        return json.dumps(value, ensure_ascii=False)

    def media(self, sdkfileid: str) -> bytes:
        try:
            return b"".join(chunk.data for chunk in self._sdk.iter_media_data(sdkfileid))
        except self._errors as exc:
            raise ArchiveUnavailable(f"GetMediaData 失败：{exc}") from None
