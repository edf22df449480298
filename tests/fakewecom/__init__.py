"""A loopback fake of the WeCom HTTP API and WeCom-style signed callback payloads, for integration tests."""
from .payloads import Signer, aibot_message, chat_change_xml, text_xml, wecom_encrypt, wecom_signature
from .server import FakeWeCom, Received

__all__ = ["FakeWeCom", "Received", "Signer", "aibot_message", "chat_change_xml", "text_xml", "wecom_encrypt",
           "wecom_signature"]
