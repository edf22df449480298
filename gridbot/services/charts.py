"""The digest's chart: a PNG a secretary can glance at (tickets per day, coverage per grid), in Chinese.

matplotlib draws with the Agg backend (no display). Its bundled DejaVu fonts have no Chinese glyphs, so a CJK
font must be installed (Debian: fonts-wqy-microhei or fonts-noto-cjk); without one every label would come out as
empty boxes, so we refuse with an operator message instead of sending such a picture.
"""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from ..texts import t

# Fonts known to carry the CJK Unified Ideographs, best first (family names as matplotlib's font_manager sees them).
CJK_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
                "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN", "SimHei", "Microsoft YaHei",
                "PingFang SC", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback")
PROBE = "网格覆盖率工单"      # every one must be in the font's character map


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is installed: the operator must install one."""


def has_glyphs(path: str, text: str = PROBE) -> bool:
    """Whether the font file maps every character of `text` to a glyph (its cmap), read with matplotlib.ft2font."""
    from matplotlib.ft2font import FT2Font  # noqa: PLC0415 - matplotlib is heavy: loaded when a chart is drawn

    font = FT2Font(path)
    cmap = font.get_charmap()
    return all(ord(ch) in cmap for ch in text)


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, str]:
    """(family, file) of an installed font that really has Chinese glyphs. Raises FontMissing otherwise."""
    from matplotlib import font_manager  # noqa: PLC0415 - matplotlib is heavy: loaded when a chart is drawn

    for rescan in (False, True):
        if rescan:   # a font installed after matplotlib built its cache (~/.cache/matplotlib): add it now
            for path in font_manager.findSystemFonts():
                if any(hint in path.lower() for hint in ("wqy", "cjk", "droid", "uming", "ukai", "sourcehan")):
                    try:
                        font_manager.fontManager.addfont(path)
                    except (OSError, RuntimeError, ValueError):  # pragma: no cover - unreadable font file
                        continue
        candidates = [(f.name, f.fname) for f in font_manager.fontManager.ttflist if f.name in CJK_FAMILIES]
        candidates.sort(key=lambda nf: CJK_FAMILIES.index(nf[0]))
        for name, path in candidates:
            try:
                if has_glyphs(path):
                    return name, path
            except (OSError, RuntimeError):  # pragma: no cover - an unreadable font file: try the next
                continue
    raise FontMissing("no CJK font found for the digest chart (matplotlib would draw boxes): install one, e.g. "
                      "`apt-get install fonts-wqy-microhei` (or fonts-noto-cjk), then remove "
                      "~/.cache/matplotlib so matplotlib sees it. 未找到中文字体，图表无法显示中文。")


def _pct(value: float | None) -> float:
    return 0.0 if value is None else round(value * 100, 1)


def digest_chart(data: dict[str, Any]) -> bytes:
    """The PNG for one digest (data = Digest.as_dict()): new/closed tickets per day, coverage per grid."""
    import matplotlib  # noqa: PLC0415 - matplotlib is heavy: loaded when a chart is drawn

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # noqa: PLC0415 - after choosing the Agg backend just above

    family, _path = cjk_font()
    series = data.get("series") or []
    grids = (data.get("coverage") or {}).get("grids") or []
    fig = Figure(figsize=(8, 6.2), dpi=100)
    fig.set_layout_engine("constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[1, max(1, min(len(grids), 12) / 4)])
    font = {"family": family}

    days = [p["label"] for p in series]
    xs = range(len(days))
    top.bar([x - 0.2 for x in xs], [p["new"] for p in series], width=0.4, label=t("digest.chart.new"),
            color="#4C78A8")
    top.bar([x + 0.2 for x in xs], [p["closed"] for p in series], width=0.4, label=t("digest.chart.closed"),
            color="#59A14F")
    top.set_xticks(list(xs), days, fontsize=8, fontfamily=family)
    top.set_title(t("digest.chart.tickets_title"), fontdict=font)
    top.legend(prop={"family": family, "size": 9})
    top.yaxis.get_major_locator().set_params(integer=True)

    shown = grids[:12]
    names = [g["name"] for g in shown][::-1]
    now_pct = [_pct(g["ratio"]) for g in shown][::-1]
    before = [_pct(g["ratio_before"]) if g.get("ratio_before") is not None else None for g in shown][::-1]
    ys = range(len(names))
    bottom.barh(list(ys), now_pct, color="#F28E2B", label=t("digest.chart.coverage_now"))
    marks = [(y, b) for y, b in zip(ys, before, strict=True) if b is not None]
    if marks:
        bottom.scatter([b for _, b in marks], [y for y, _ in marks], marker="|", s=200, color="#333333",
                       label=t("digest.chart.coverage_before"), zorder=3)
    bottom.set_yticks(list(ys), names, fontfamily=family, fontsize=9)
    bottom.set_xlim(0, 100)
    bottom.set_title(t("digest.chart.coverage_title"), fontdict=font)
    bottom.legend(prop={"family": family, "size": 9}, loc="lower right")
    fig.suptitle(t("digest.chart.title", scope=data.get("scope_name", ""), day=data.get("covers_label", "")),
                 fontfamily=family, fontsize=13)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
