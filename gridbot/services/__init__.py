"""Domain services: plain functions taking a Session and plain values. Chat handlers and the web call the same ones."""
