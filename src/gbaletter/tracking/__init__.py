"""Click and open tracking: the events `serve` records, the rules that tell people from machines,
and how long who-clicked-what is kept (docs/tracking.md).

Above delivery (it reads the journal's deliveries) and below the report and the web app.
"""
