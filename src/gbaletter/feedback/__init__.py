"""What comes back after a send, read from the bounce mailbox: bounces, complaints, automatic
replies and mailed unsubscribes (docs/bounces.md).

`mailbox` reads a Maildir or an IMAP folder, `parse` says what one message is, `policy` what it
does to its subscriber, and `process` ties them together and records every result in
`feedback_events`. Above delivery and subscribers, below web and cli.
"""
