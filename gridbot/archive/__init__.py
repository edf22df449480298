"""The chat archive (会话内容存档): customer groups' messages, pulled (issue 16 points 1-5).

Stand-in on the toolbar branch: only `local.post`, with the signature the archive part provides; the coordinator
keeps the archive part's package at merge.
"""
