"""Pure domain: events -> decision -> Job spec -> result. No I/O lives here."""
