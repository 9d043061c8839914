"""The deployment ledger: colors, their states and an append-only event log, kept in the
application's own database, and the contract gate that reads it."""
