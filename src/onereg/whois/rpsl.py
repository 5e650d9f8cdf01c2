"""Registry records as RPSL objects, laid out as the RIPE Database prints them.

Pure functions of their inputs (no database): the resolver gathers the record, its dates and its
holder, and this module only decides the words. Attribute names and their order follow the RIPE
templates (inetnum, inet6num, aut-num, as-block, organisation), keeping only what a delegated
record knows; values are padded to column 16 as whois.ripe.net does. APNIC and AFRINIC use the
same templates with their own status words and date lines (`RipeStyle`); ARIN's and LACNIC's
formats are in `dialects`. Dates arrive as ISO 8601 (`registry.dates`) and each style writes them
its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource, format_number

Attribute = tuple[str, str]
VALUE_COLUMN = 16

INETNUM = "inetnum"
INET6NUM = "inet6num"
AUT_NUM = "aut-num"
AS_BLOCK = "as-block"
ORGANISATION = "organisation"
OBJECT_TYPES: tuple[str, ...] = (INETNUM, INET6NUM, AUT_NUM, AS_BLOCK, ORGANISATION)

# The database name each registry's whois prints in `source:` (RIPE NCC's is "RIPE").
SOURCE_NAMES: Mapping[RegistryId, str] = {
    RegistryId.IANA: "IANA",
    RegistryId.AFRINIC: "AFRINIC",
    RegistryId.APNIC: "APNIC",
    RegistryId.ARIN: "ARIN",
    RegistryId.LACNIC: "LACNIC",
    RegistryId.RIPENCC: "RIPE",
}

# Delegated-file status in each object type's RIPE vocabulary. A delegated file says only
# allocated or assigned, and an assignment in it is a direct (provider-independent) one.
_INETNUM_STATUS = {
    Status.ALLOCATED.value: "ALLOCATED PA",
    Status.ASSIGNED.value: "ASSIGNED PI",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}
_INET6NUM_STATUS = {
    Status.ALLOCATED.value: "ALLOCATED-BY-RIR",
    Status.ASSIGNED.value: "ASSIGNED PI",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}
_AUTNUM_STATUS = {
    Status.ALLOCATED.value: "ASSIGNED",
    Status.ASSIGNED.value: "ASSIGNED",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}


def source_name(registry: RegistryId) -> str:
    return SOURCE_NAMES[registry]


@dataclass(frozen=True, slots=True)
class RpslObject:
    """An object as a list of attributes; the first names its type and primary key, unless
    `kind` and `primary` say otherwise (a dialect whose first attribute is not an RPSL type,
    as ARIN's `NetRange:`; `-T` and the "Information related to" line go by the RPSL type)."""

    attributes: tuple[Attribute, ...]
    kind: str = ""
    primary: str = ""
    column: int = VALUE_COLUMN

    @property
    def object_type(self) -> str:
        return self.kind or self.attributes[0][0]

    @property
    def key(self) -> str:
        return self.primary or self.attributes[0][1]

    def text(self) -> str:
        return "".join(_line(name, value, self.column) for name, value in self.attributes)


def _line(name: str, value: str, column: int = VALUE_COLUMN) -> str:
    label = name + ":"
    pad = max(column - len(label), 1)
    return f"{label}{' ' * pad}{value}".rstrip() + "\n"


def rpsl_time(log_time: str | None) -> str | None:
    """A log time (microseconds) or date as RIPE prints `created:`: ISO 8601 to the second,
    UTC."""
    if not log_time:
        return None
    return log_time.split(".", 1)[0].rstrip("Z") + "Z"


def day(when: str | None) -> str | None:
    """The `YYYY-MM-DD` of an ISO 8601 time (ARIN's `RegDate:`/`Updated:`)."""
    return when[:10] if when and len(when) >= 10 else None


def compact_day(when: str | None) -> str | None:
    """The `YYYYMMDD` of an ISO 8601 time (LACNIC's `created:`/`changed:`, APNIC's `changed:`)."""
    text = day(when)
    return text.replace("-", "") if text else None


def version_time(log_time: str) -> str:
    """The `YYYY-MM-DD HH:MM` of RIPE's version lists."""
    return log_time[:16].replace("T", " ")


def object_type_of(res: Resource) -> str:
    if res.afi is Afi.IPV4:
        return INETNUM
    if res.afi is Afi.IPV6:
        return INET6NUM
    return AUT_NUM if res.start == res.end else AS_BLOCK


def primary_key(res: Resource) -> str:
    """The object's key as RIPE writes it: a range for inetnum and as-block, else the prefix."""
    if res.afi is Afi.IPV4:
        return f"{format_number(res.afi, res.start)} - {format_number(res.afi, res.end)}"
    if res.afi is Afi.ASN:
        return f"AS{res.start}" if res.start == res.end else f"AS{res.start} - AS{res.end}"
    return str(res)


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What an object of a delegation says, whichever version of it is being shown."""

    registry: RegistryId
    resource: Resource
    cc: str
    status: str
    holder: str | None
    holder_name: str | None
    attrs: Mapping[str, object] | None
    created: str | None
    last_modified: str | None
    refer_whois: str | None = None  # the IANA node: the whois of the RIR holding the block
    provenance: Sequence[str] = ()  # shown unfiltered (-B) only
    rdap_url: str | None = None  # the object at the node's RDAP (ARIN's `Ref:`)
    # `created` and `last_modified` are ISO 8601 UTC (registry.dates): each dialect writes
    # them its own way.


def record_name(facts: RecordFacts) -> str:
    """A netname/as-name: one token, as RPSL wants; IANA's designation when there is one."""
    attrs = facts.attrs or {}
    designation = attrs.get("designation")
    if designation:
        return _token(str(designation))
    if facts.holder_name:
        return _token(facts.holder_name)
    res = facts.resource
    first = format_number(res.afi, res.start).replace(".", "-").replace(":", "-").strip("-")
    prefix = "AS" if res.afi is Afi.ASN else ""
    return f"{facts.registry.value.upper()}-{facts.cc or 'ZZ'}-{prefix}{first}"


def _token(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.upper())
    return "-".join(part for part in cleaned.split("-") if part) or "UNNAMED"


def country_of(cc: str) -> str | None:
    return cc if len(cc) == 2 and cc.isalpha() and cc.upper() != "ZZ" else None


StatusTable = Mapping[str, Mapping[str, str]]  # object type -> delegated status -> word
RIPE_STATUS: StatusTable = {
    INETNUM: _INETNUM_STATUS,
    INET6NUM: _INET6NUM_STATUS,
    AUT_NUM: _AUTNUM_STATUS,
}


def ripe_dates(created: str | None, last_modified: str | None) -> list[Attribute]:
    """RIPE's (and AFRINIC's) date attributes: ISO 8601 to the second."""
    out: list[Attribute] = []
    if created:
        out.append(("created", rpsl_time(created) or created))
    if last_modified:
        out.append(("last-modified", rpsl_time(last_modified) or last_modified))
    return out


@dataclass(frozen=True, slots=True)
class RipeStyle:
    """What differs among the RPSL databases of RIPE NCC, APNIC and AFRINIC: the status words
    and how the dates are written."""

    statuses: StatusTable = field(default_factory=lambda: RIPE_STATUS)
    dates: Callable[[str | None, str | None], list[Attribute]] = ripe_dates
    holder_dates: Callable[[str | None, str | None], list[Attribute]] = ripe_dates


RIPE_STYLE = RipeStyle()


def status_word(facts: RecordFacts, object_type: str, statuses: StatusTable = RIPE_STATUS) -> str:
    attrs = facts.attrs or {}
    if attrs.get("iana_status"):
        return str(attrs["iana_status"]).upper()
    table = statuses.get(object_type, statuses[AUT_NUM])
    return table.get(facts.status, facts.status.upper())


def _tail(
    facts: RecordFacts, filtered: bool, attributes: list[Attribute], style: RipeStyle
) -> tuple[Attribute, ...]:
    if not filtered:
        attributes += [("remarks", line) for line in facts.provenance]
    attributes += style.dates(facts.created, facts.last_modified)
    source = source_name(facts.registry)
    hidden = filtered and bool(facts.provenance)
    attributes.append(("source", f"{source} # Filtered" if hidden else source))
    return tuple(attributes)


def resource_object(
    facts: RecordFacts, filtered: bool = True, style: RipeStyle = RIPE_STYLE
) -> RpslObject:
    res = facts.resource
    kind = object_type_of(res)
    attributes: list[Attribute] = [(kind, primary_key(res))]
    if kind in (INETNUM, INET6NUM):
        attributes.append(("netname", record_name(facts)))
    elif kind == AUT_NUM:
        attributes.append(("as-name", record_name(facts)))
    designation = (facts.attrs or {}).get("designation")
    if designation:
        attributes.append(("descr", str(designation)))
    country = country_of(facts.cc)
    if country and kind != AS_BLOCK:
        attributes.append(("country", country))
    if facts.holder:
        attributes.append(("org", facts.holder))
    if kind != AS_BLOCK:
        attributes.append(("status", status_word(facts, kind, style.statuses)))
    else:
        attributes.append(("remarks", f"status {status_word(facts, AUT_NUM, style.statuses)}"))
    if facts.refer_whois:
        attributes.append(("whois", facts.refer_whois))
    return RpslObject(_tail(facts, filtered, attributes, style))


@dataclass(frozen=True, slots=True)
class HolderFacts:
    registry: RegistryId
    handle: str
    name: str
    cc: str
    created: str | None
    last_modified: str | None
    rdap_url: str | None = None


def organisation_object(facts: HolderFacts, style: RipeStyle = RIPE_STYLE) -> RpslObject:
    attributes: list[Attribute] = [
        (ORGANISATION, facts.handle),
        ("org-name", facts.name or facts.handle),
    ]
    country = country_of(facts.cc)
    if country:
        attributes.append(("country", country))
    attributes += style.holder_dates(facts.created, facts.last_modified)
    attributes.append(("source", source_name(facts.registry)))
    return RpslObject(tuple(attributes))
