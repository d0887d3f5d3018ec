"""The durable call record (docs/records.md): Asterisk writes channel events (CEL) to SQLite on
the persistent volume; the supervisor folds each ended call into one row of its call history and
counts it, exactly once, from there."""
