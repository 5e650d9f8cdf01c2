"""Readers of the registries' published source files (delegated statistics, IANA registries, NRO lists)."""
