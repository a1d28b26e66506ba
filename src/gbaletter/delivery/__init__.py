"""Delivery: a built issue becomes one message per subscriber, sent over SMTP, journaled.

`message` prepares the issue once and fills in each subscriber cheaply; `smtp` holds the
connection settings and opens connections; `journal` records every recipient's state in the
database; `sender` runs a send and `loop` its per-row loop; `ratelimit` paces it; `sink` is the demo/test SMTP server.
"""
