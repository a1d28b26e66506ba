"""The pages a subscriber sees outside their inbox: subscribe and confirm, unsubscribe, the archive.

`app.create_app(workspace)` is the ASGI app that `gbaletter serve` runs; it shares the database and
the signed tokens with the sender, so the links in a sent issue work here. Nothing is imported
here: the CLI and the migrations load `web.models` without the web stack.
"""
