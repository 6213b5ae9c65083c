"""The registry console: pre-flight checks, guarded alias moves, the audit ledger, status and charts."""
