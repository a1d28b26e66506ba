"""Scheduled sends: plan an issue's send to a segment for a time, and send what is due, once.

A layer above delivery: `service` adds, lists and cancels schedules; `policy` decides, without
I/O, what a scheduler does with a schedule at a given moment; `runner` claims what is due and
calls `delivery.sender.send_issue`. See docs/scheduling.md.
"""
