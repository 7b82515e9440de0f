"""The sync: composes extract, transform and load for days x endpoints."""
