"""Registry identifiers and the status vocabulary of the statistics exchange format."""

from __future__ import annotations

from enum import StrEnum


class RegistryId(StrEnum):
    """The six registries, spelled as in delegated files (`ripencc`, not `ripe`)."""

    IANA = "iana"
    AFRINIC = "afrinic"
    APNIC = "apnic"
    ARIN = "arin"
    LACNIC = "lacnic"
    RIPENCC = "ripencc"

    @property
    def display_name(self) -> str:
        return _DISPLAY[self]

    @classmethod
    def from_designation(cls, text: str) -> RegistryId | None:
        """The registry an IANA designation names ("RIPE NCC", "Administered by ARIN", ...)."""
        upper = text.upper()
        for rid, name in _DISPLAY.items():
            if rid is not RegistryId.IANA and name.upper() in upper:
                return rid
        return None


_DISPLAY = {
    RegistryId.IANA: "IANA",
    RegistryId.AFRINIC: "AFRINIC",
    RegistryId.APNIC: "APNIC",
    RegistryId.ARIN: "ARIN",
    RegistryId.LACNIC: "LACNIC",
    RegistryId.RIPENCC: "RIPE NCC",
}

RIRS: tuple[RegistryId, ...] = (
    RegistryId.AFRINIC,
    RegistryId.APNIC,
    RegistryId.ARIN,
    RegistryId.LACNIC,
    RegistryId.RIPENCC,
)
ALL_REGISTRIES: tuple[RegistryId, ...] = (RegistryId.IANA, *RIRS)


class Status(StrEnum):
    """Delegation status (RIR statistics exchange format, REFERENCE.md section 2.1)."""

    ALLOCATED = "allocated"
    ASSIGNED = "assigned"
    RESERVED = "reserved"
    AVAILABLE = "available"

    @property
    def is_held(self) -> bool:
        """Held by a holder; reserved and available space belongs to the registry's pool."""
        return self in (Status.ALLOCATED, Status.ASSIGNED)


def holder_label(holder: str | None, status: str) -> str:
    """Who holds a record, in words: plain files (no opaque-id) do not say; pool space has none."""
    if holder:
        return holder
    if status in (Status.AVAILABLE.value, Status.RESERVED.value):
        return "registry pool"
    return "holder not published"
