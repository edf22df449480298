"""Text written by people (a resident's summary, a name from a roster) made inert inside WeCom markdown.

The digest is sent as WeCom markdown and shown as markdown in the console: a ticket summary such as
`[请登录核实](https://evil.example)` would otherwise become a live link in the secretary's digest. Every value
interpolated into a markdown template passes through md_text(): markdown's marks become their full-width forms
(what Chinese text uses anyway; WeCom's markdown has no backslash escapes to rely on), and line breaks become
spaces, so nothing can start a heading, a quote or a list line either.
"""
from __future__ import annotations

from typing import Any

_MARKS = str.maketrans({
    "[": "［", "]": "］", "(": "（", ")": "）", "*": "＊", "_": "＿", "`": "｀", "#": "＃", "<": "＜", ">": "＞",
    "~": "～", "|": "｜", "\\": "＼", "!": "！",
})


# A plain-text reply the AI bot's response_url can only send as markdown keeps its lines and its URLs (no "_", "~",
# "!" or "|" mapped: links the bot itself writes contain them); the marks that make links, bold, code and headings go.
_PLAIN_MARKS = str.maketrans({k: v for k, v in zip("[]()*`#<>\\", "［］（）＊｀＃＜＞＼", strict=True)})


def md_plain(text: str) -> str:
    """A whole plain-text reply sent as markdown: shown as written, line by line."""
    return (text or "").translate(_PLAIN_MARKS)


def md_text(value: Any) -> str:
    """A value for a markdown template: its marks shown as written, never acted on."""
    return " ".join(str(value if value is not None else "").split()).translate(_MARKS)
