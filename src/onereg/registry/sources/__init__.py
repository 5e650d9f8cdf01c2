"""Readers of the registries' published files (delegated statistics, IANA registries, NRO lists)."""
