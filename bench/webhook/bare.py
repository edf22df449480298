"""The baseline: an endpoint that only verifies, decrypts (wechatpy) and answers 200. No storage, no queue."""
from __future__ import annotations

import json
import os

from flask import Flask, request
from wechatpy.enterprise.crypto import WeChatCrypto

app = Flask(__name__)
crypto = WeChatCrypto(os.environ["GRIDBOT_AIBOT_TOKEN"], os.environ["GRIDBOT_AIBOT_AES_KEY"], "")


@app.post("/wecom/aibot")
def aibot():
    encrypt = json.loads(request.get_data())["encrypt"]
    crypto.check_signature(request.args["msg_signature"], request.args["timestamp"], request.args["nonce"],
                           encrypt)  # verifies the signature, then decrypts
    return "", 200
