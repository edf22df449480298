"""A loopback fake of an OpenAI-compatible /chat/completions endpoint (a county's private large model)."""
from .server import FakeLLM

__all__ = ["FakeLLM"]
