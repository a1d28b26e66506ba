"""What comes back after a send, read from the bounce mailbox: bounces, complaints, automatic
replies and mailed unsubscribes (docs/bounces.md).

`mailbox` reads a Maildir or an IMAP folder, `parse` says what one message is, `process`
attributes it, records every result in `feedback_events` and has `delivery.effects` (the one
table of subscriber changes) decide what a verified one does to its subscriber; `records` reads
the results back. Above delivery and subscribers, below web and cli.
"""
