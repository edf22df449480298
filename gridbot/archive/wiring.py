"""Which archive this app reads (GRIDBOT_ARCHIVE_SOURCE), built once by bootstrap. An archive that cannot open
(the SDK missing on this OS or CPU, a key file unreadable) leaves the rest of gridbot running: the reason is kept
for `gridbot wecom check`, /readyz and the log."""
from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from ..config import Settings
from .keys import PrivateKeys, new_key_file
from .local import LocalArchive
from .port import Archive, ArchiveUnavailable
from .sdk import SdkArchive, load_problem

log = logging.getLogger(__name__)


def open_archive(settings: Settings, engine: Engine) -> tuple[Archive | None, PrivateKeys | None, str | None]:
    """(archive, keys, problem): the archive and its keys, or None and why not (None, None, None when off)."""
    cfg = settings.archive
    if not cfg.enabled:
        return None, None, None
    try:
        files = cfg.private_keys
        if cfg.source == "local" and not files:   # the embedded archive makes its own key once
            path = settings.instance_dir / "archive" / "local-1.pem"
            if not path.exists():
                new_key_file(path)
            files = ((1, path),)
        keys = PrivateKeys.from_files(files)
        if cfg.source == "local":
            return LocalArchive(engine, keys), keys, None
        problem = load_problem()
        if problem is not None:
            raise ArchiveUnavailable(problem)
        return SdkArchive(settings.wecom.corp_id or "", cfg.secret or "", cfg.sdk_timeout), keys, None
    except ArchiveUnavailable as exc:
        log.error("archive: not read: %s", exc)
        return None, None, str(exc)
