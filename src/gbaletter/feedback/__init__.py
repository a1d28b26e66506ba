"""What comes back after a send, read from the bounce mailbox: bounces, complaints, automatic
replies and mailed unsubscribes (docs/bounces.md).

`mailbox` reads a Maildir or an IMAP folder, `parse` says what one message is, `attribute` which
journal row it is about and whether that is proven, `process` records every result in
`feedback_events` and has `delivery.effects` (the one table of subscriber changes) decide what a
verified one does to its subscriber; `records` reads the results back. Above delivery and
subscribers, below web and cli.
"""
