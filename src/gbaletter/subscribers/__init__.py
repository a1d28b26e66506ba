"""The subscriber list: people, tags, statuses, suppression, segments, CSV import and export."""
