"""The JS-SDK's agentConfig signature and the app's jsapi_ticket (issue 16 point 6), against the fake WeCom."""
from __future__ import annotations

import threading

from gridbot.wecom import WeComClient
from gridbot.wecom.jssdk import agent_ticket, signature


def test_the_signature_is_the_documented_one():
    # the worked example of 附录-JS-SDK使用权限签名算法 (the same algorithm for wx.config and wx.agentConfig, doc 94313)
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    assert signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value") \
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    # the #fragment is not signed
    assert signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#top") \
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_many_processes_share_one_ticket_fetched_once_under_the_redis_lock(fake, redis_conn, redis_prefix):
    clients = [WeComClient(fake.url, fake.corp_id, fake.secret, redis_conn, redis_prefix + ":") for _ in range(6)]
    tickets: list[str] = []
    threads = [threading.Thread(target=lambda c=c: tickets.append(agent_ticket(c))) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tickets)) == 1 and fake.agent_ticket_calls == 1
    assert fake.valid_agent_ticket(tickets[0])


def test_without_redis_the_ticket_is_kept_in_process(fake):
    client = WeComClient(fake.url, fake.corp_id, fake.secret, prefix="jssdk-local:")
    first = agent_ticket(client)
    assert agent_ticket(client) == first and fake.agent_ticket_calls == 1


def test_the_fake_refuses_a_ticket_without_a_valid_token(fake):
    import requests

    answer = requests.get(f"{fake.url}/cgi-bin/ticket/get", params={"access_token": "nope", "type": "agent_config"},
                          timeout=5).json()
    assert answer["errcode"] == 42001 and fake.agent_ticket_calls == 0
