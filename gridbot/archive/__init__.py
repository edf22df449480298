"""The chat archive (会话内容存档): residents' messages in customer groups, pulled by seq and decrypted.

port.py     what the puller needs from an archive (fetch, decrypt, media): the SDK and the embedded archive
sdk.py      WeCom's archive through the native Finance SDK (the optional extra gridbot[archive])
local.py    the embedded archive (demo, simulator, `gridbot say`, tests): same records, same encryption
keys.py     the RSA private keys per publickey_ver, read from files, never logged
decode.py   a decrypted archive message -> the neutral Inbound (platform "wecom_archive")
pull.py     the puller: one at a time, the cursor committed with the rows it covers
"""
