"""Logs carry no phone or ID numbers: a realistic morning at DEBUG, in its own process with the production logging
setup (configure_logging, as create_app() does), stderr captured to a file and grepped with the ID and phone patterns.

The scenario: residents report problems through both signed callback routes with their mobile, landline and ID
numbers in the text, register a household with them, a member accepts and handles a ticket, a bad request carries a
phone number, WeCom answers one send with a 502. The file must hold the DEBUG chatter (so the test can fail) and no
number in the clear.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gridbot.privacy import _ID_RE, _LANDLINE_RE, _MOBILE_RE

ROOT = Path(__file__).resolve().parents[2]
PHONE, LANDLINE, ID_NO = "13812345678", "0571-88776655", "330106199003071234"

SCENARIO = r'''
import sys, re
from gridbot import migrate
from gridbot.clock import FrozenClock
from gridbot.bootstrap import build, set_current
from gridbot.web import create_app
from tests.conftest import make_settings, T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message, text_xml
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, vectors
from tests.fakewecom.payloads import Signer
from tests.fakewecom.server import FakeWeCom
from pathlib import Path

tmp = Path(sys.argv[1]); phone, landline, id_no = sys.argv[2:5]
fake = FakeWeCom().start()
url = f"sqlite:///{tmp / 'logs.db'}"
migrate.upgrade(url)
v = vectors()
env = {"GRIDBOT_WECOM_CORP_ID": v["corp_id"], "GRIDBOT_WECOM_TOKEN": v["token"], "GRIDBOT_WECOM_AES_KEY":
       v["encoding_aes_key"], "GRIDBOT_WECOM_SECRET": fake.secret, "GRIDBOT_WECOM_AGENT_ID": "1000002",
       "GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN, "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY, "GRIDBOT_WECOM_API_BASE": fake.url,
       "GRIDBOT_LOG_LEVEL": "DEBUG"}
app = build(make_settings(url, tmp, **env), clock=FrozenClock(T0), sync_jobs=True)
set_current(app)
with app.session() as s, s.begin():
    seed_world(s)
from gridbot.privacy import configure_logging
configure_logging(app.settings.log_level)          # what create_app() does in production
client = create_app(gridbot=app).test_client()
now = int(T0.timestamp())
aibot, appcb = Signer(AIBOT_TOKEN, AIBOT_KEY, ""), Signer(v["token"], v["encoding_aes_key"], v["corp_id"])
texts = [f"@网格小助手 3栋2单元101楼道灯坏了，电话{phone}",
         f"@网格小助手 2栋1单元102漏水，身份证{id_no}，座机{landline}",
         f"@网格小助手 登记 1栋1单元102 {phone}",
         f"@网格小助手 我的手机号 {phone[:3]} {phone[3:7]} {phone[7:]} 有人摔倒了 1栋"]
for i, text in enumerate(texts):
    q, b = aibot.json_post(aibot_message(f"p{i}", f"resident_{i}", text, chatid="chat-hy-01",
                                         response_url=fake.response_url(f"p{i}")), now, nonce=f"n{i}")
    assert client.post(f"/wecom/aibot?{q}", data=b).status_code == 200
fake.fail_next = 1
q, b = appcb.xml_post(text_xml("mem_zhao", f"我的工单", "77001", now), now, nonce="m1")
assert client.post(f"/wecom/callback?{q}", data=b).status_code == 200
numbers = re.findall(r"[A-Z]+-\d{8}-\d{4}", " ".join(str(r.body) for r in fake.received))
for j, n in enumerate(dict.fromkeys(numbers)):
    q, b = appcb.xml_post(text_xml("mem_zhao", f"受理 {n} 已联系{phone}", str(77100 + j), now), now, nonce=f"a{j}")
    client.post(f"/wecom/callback?{q}", data=b)
q, b = appcb.xml_post(text_xml("mem_zhao", f"{phone} {id_no}", "77999", now), now)
client.post(f"/wecom/callback?{q.replace('msg_signature=', 'msg_signature=0')}", data=b)
client.post("/wecom/aibot?msg_signature=x&timestamp=1&nonce=1", data=f'{{"encrypt": "{phone}{id_no}"}}'.encode())
fake.stop()
print("scenario done", len(numbers), file=sys.stderr)
'''


def test_a_debug_morning_logs_no_phone_or_id_numbers(tmp_path):
    log = tmp_path / "gridbot.log"
    with open(log, "wb") as out:
        proc = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path), PHONE, LANDLINE, ID_NO], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
                              timeout=240)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0 and "scenario done" in text, text[-3000:]
    assert text.count("DEBUG") >= 20 and "refused" in text        # the chatter is there: the grep means something
    leaks = [m.group(0) for rx in (_ID_RE, _MOBILE_RE, _LANDLINE_RE) for m in rx.finditer(text)]
    leaks += [n for n in (PHONE, ID_NO, LANDLINE, PHONE[3:]) if n in text]
    assert leaks == [], [line for line in text.splitlines() if any(x in line for x in leaks)][:5]
