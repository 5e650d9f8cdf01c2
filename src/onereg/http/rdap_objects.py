"""RDAP response bodies (RFC 9083, NRO RDAP profile, cidr0) built from a node's records.

Pure functions of their inputs: no database, no HTTP. Keeping them apart from the routes lets the
shape of every object be tested without a server, and lets another front end (a static export,
a whois bridge) reuse the same objects.

The `onereg_versions_0` extension (see `onereg.http.rdap`) adds two response shapes: a version
list (`onereg_versions_0_versions`) and an object as it was at one version (the usual object with
an `onereg_versions_0_version` member). Only those responses name the extension in
`rdapConformance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource, format_number
from onereg.registry.dates import registration_date
from onereg.registry.node import Delegation

MEDIA_TYPE = "application/rdap+json"
JsonObject = dict[str, Any]

# The NRO profile requires nro_rdap_profile_0 together with cidr0; the flat ASN model is ours
# because an autnum object is exactly the range a registry recorded (REFERENCE.md 3.2).
CONFORMANCE: tuple[str, ...] = (
    "rdap_level_0",
    "nro_rdap_profile_0",
    "cidr0",
    "nro_rdap_profile_asn_flat_0",
)
RIR_SEARCH_CONFORMANCE: tuple[str, ...] = ("rirSearch1", "ips", "autnums")
VERSIONS_EXTENSION = "onereg_versions_0"
VERSIONS_MEMBER = f"{VERSIONS_EXTENSION}_versions"
VERSION_MEMBER = f"{VERSIONS_EXTENSION}_version"

# RDAP JSON values registry (RFC 9083 10.2.2): pool space is not "active", and "available" has no
# value of its own, so it is the closest one, "inactive".
_STATUS_VALUES = {
    Status.ALLOCATED.value: "active",
    Status.ASSIGNED.value: "active",
    Status.RESERVED.value: "reserved",
    Status.AVAILABLE.value: "inactive",
}
# RIR `type` vocabulary as clients see it at the RIRs (RIPE/APNIC style); a delegated file only
# says allocated or assigned, and an assignment in it is a direct (provider-independent) one.
_IP_TYPES = {
    Status.ALLOCATED.value: "ALLOCATED PA",
    Status.ASSIGNED.value: "ASSIGNED PI",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}


@dataclass(frozen=True, slots=True)
class Site:
    """Where this node's RDAP service and its policy pages live (the NRO profile's notices)."""

    base_url: str
    terms_url: str
    inaccuracy_url: str
    registry: RegistryId
    port43: str | None = None

    @property
    def rdap(self) -> str:
        return self.base_url.rstrip("/") + "/rdap"


@dataclass(frozen=True, slots=True)
class Context:
    """What every response needs besides its object: the site, and the URL asked for (links
    carry it as their `value`, the context they were found in)."""

    site: Site
    request_url: str
    conformance: tuple[str, ...] = CONFORMANCE
    stale: tuple[str, ...] = ()  # peers whose mirrored logs this answer may be behind on


def rdap_date(text: str) -> str | None:
    """A delegated-file date (YYYYMMDD) as RFC 3339, or None when the file left it unknown:
    `registry.dates`, which whois dates by too, so the two faces agree."""
    return registration_date(text)


def link(ctx: Context, rel: str, href: str, media: str = MEDIA_TYPE) -> JsonObject:
    return {"value": ctx.request_url, "rel": rel, "href": href, "type": media}


def notices(ctx: Context) -> list[JsonObject]:
    """The NRO profile (4.3) wants terms of service and an inaccuracy report among the notices."""
    name = ctx.site.registry.display_name
    return [
        {
            "title": "Terms of Service",
            "description": [
                f"This is the {name} registry of the onereg federation. Its data is derived from "
                "the registry's published, witnessed log."
            ],
            "links": [link(ctx, "terms-of-service", ctx.site.terms_url, "text/html")],
        },
        {
            "title": "Whois Inaccuracy Reporting",
            "description": ["If you see inaccuracies in the results, please report them at: "],
            "links": [link(ctx, "inaccuracy-report", ctx.site.inaccuracy_url, "text/html")],
        },
        *stale_notice(ctx),
    ]


def stale_notice(ctx: Context) -> list[JsonObject]:
    """Redirects and referrals come from verified mirrors of the other registries' logs; when
    one of those is behind, the answer says so rather than pretend to be current."""
    if not ctx.stale:
        return []
    return [{"title": "Stale federation data", "description": list(ctx.stale)}]


def top_level(ctx: Context, body: JsonObject) -> JsonObject:
    return {"rdapConformance": list(ctx.conformance), "notices": notices(ctx), **body}


def error_object(ctx: Context, code: int, title: str, description: str) -> JsonObject:
    return top_level(ctx, {"errorCode": code, "title": title, "description": [description]})


def help_object(ctx: Context) -> JsonObject:
    rdap = ctx.site.rdap
    return top_level(
        ctx,
        {
            "links": [link(ctx, "self", f"{rdap}/help")],
            "remarks": [
                {
                    "title": "Queries",
                    "description": [
                        "ip/<address>, ip/<prefix>/<length>, autnum/<number>, entity/<handle>",
                        "ips/rirSearch1/{rdap-up,rdap-down,rdap-top,rdap-bottom}/<ip>[/<length>]",
                        "autnums/rirSearch1/{rdap-up,rdap-top}/<number>",
                        "bootstrap/{ipv4,ipv6,asn}.json (RFC 9224)",
                        "ip/<address>/versions, ip/<prefix>/<length>/versions, "
                        "autnum/<number>/versions, and .../versions/<n>: the record's history "
                        f"from the registry's log ({VERSIONS_EXTENSION})",
                        "openapi.json: an OpenAPI 3.1 description of this service",
                        "Resources another registry is authoritative for are redirected (301).",
                    ],
                }
            ],
        },
    )


# --- handles and links ----------------------------------------------------------------------


def network_handle(res: Resource) -> str:
    """RIPE/APNIC style: the range for IPv4 (often not one prefix), the prefix for IPv6."""
    if res.afi is Afi.IPV4:
        return f"{format_number(res.afi, res.start)} - {format_number(res.afi, res.end)}"
    return str(res)


def autnum_handle(res: Resource) -> str:
    return str(res)


def network_path(res: Resource) -> str:
    """The lookup path that finds exactly this network: its prefix, or its first address."""
    blocks = res.cidrs()
    if len(blocks) == 1:
        net, plen = blocks[0]
        return f"ip/{format_number(res.afi, net)}/{plen}"
    return f"ip/{format_number(res.afi, res.start)}"


def cidr0_cidrs(res: Resource) -> list[JsonObject]:
    member = "v4prefix" if res.afi is Afi.IPV4 else "v6prefix"
    return [{member: format_number(res.afi, net), "length": plen} for net, plen in res.cidrs()]


# --- objects --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    handle: str
    name: str
    cc: str
    changed: str | None  # log time of the entry that last changed the holder


@dataclass(frozen=True, slots=True)
class Record:
    """A delegation with what the response needs from outside it."""

    delegation: Delegation
    changed: str | None  # log time of the delegation's entry
    holder: Holder | None
    parent: Resource | None  # the covering object, when there is one
    database_updated: str | None  # log time of the node's last entry
    transferred: str | None = None  # log time of the transfer that brought it, if one did


def vcard(holder: Holder) -> list[Any]:
    props: list[list[Any]] = [
        ["version", {}, "text", "4.0"],
        ["fn", {}, "text", holder.name or holder.handle],
        ["kind", {}, "text", "org"],
    ]
    if _country(holder.cc):
        # RFC 8605 cc parameter: the country is all the address a delegated file gives.
        props.append(["adr", {"cc": holder.cc}, "text", ["", "", "", "", "", "", ""]])
    return ["vcard", props]


def entity_object(
    ctx: Context, holder: Holder, roles: Sequence[str] = (), nested: bool = True
) -> JsonObject:
    obj: JsonObject = {
        "objectClassName": "entity",
        "handle": holder.handle,
        "vcardArray": vcard(holder),
    }
    if roles:
        obj["roles"] = list(roles)
    obj["links"] = [link(ctx, "self", f"{ctx.site.rdap}/entity/{holder.handle}")]
    if holder.changed and not nested:
        obj["events"] = [{"eventAction": "last changed", "eventDate": holder.changed}]
    return obj


def _country(cc: str) -> bool:
    return len(cc) == 2 and cc.isalpha() and cc.isupper() and cc != "ZZ"


def _events(rec: Record) -> list[JsonObject]:
    events = []
    registered = rdap_date(rec.delegation.date)
    if registered:
        events.append({"eventAction": "registration", "eventDate": registered})
    if rec.transferred:
        events.append({"eventAction": "transfer", "eventDate": rec.transferred})
    if rec.changed:
        events.append({"eventAction": "last changed", "eventDate": rec.changed})
    if rec.database_updated:
        events.append(
            {"eventAction": "last update of RDAP database", "eventDate": rec.database_updated}
        )
    return events


def _common(ctx: Context, rec: Record, self_href: str) -> JsonObject:
    d = rec.delegation
    obj: JsonObject = {}
    if _country(d.cc):
        obj["country"] = d.cc
    obj["status"] = [_STATUS_VALUES.get(d.status, "active")]
    obj["events"] = _events(rec)
    obj["links"] = [link(ctx, "self", self_href)]
    if ctx.site.port43:
        obj["port43"] = ctx.site.port43
    if rec.holder is not None:
        obj["entities"] = [entity_object(ctx, rec.holder, ["registrant"])]
    remarks = _remarks(d)
    if remarks:
        obj["remarks"] = remarks
    return obj


def _remarks(d: Delegation) -> list[JsonObject]:
    lines = [f"{d.registry.display_name} record, status {d.status}, log entry {d.seq}"]
    attrs = d.attrs or {}
    if attrs.get("designation"):
        lines.append(f"IANA: {attrs['designation']} ({attrs.get('iana_status', '')})")
    if attrs.get("received_by"):
        lines.append(f"received by {attrs['received_by']} {attrs.get('transfer', '')}".rstrip())
    return [{"title": "registry", "description": lines}]


def _name(d: Delegation, holder: Holder | None) -> str:
    attrs = d.attrs or {}
    if attrs.get("designation"):
        return str(attrs["designation"])
    if holder is not None and holder.name:
        return holder.name
    first = d.start_text.replace(".", "-").replace(":", "-").strip("-")
    return f"{d.registry.value.upper()}-{d.cc or 'ZZ'}-{first}"


def _type(d: Delegation) -> str:
    attrs = d.attrs or {}
    if attrs.get("iana_status"):  # the IANA node: IANA's own word for the block
        return str(attrs["iana_status"])
    return _IP_TYPES.get(d.status, d.status.upper())


def network_object(ctx: Context, rec: Record, self_href: str | None = None) -> JsonObject:
    res = rec.delegation.resource
    obj: JsonObject = {
        "objectClassName": "ip network",
        "handle": network_handle(res),
        "startAddress": format_number(res.afi, res.start),
        "endAddress": format_number(res.afi, res.end),
        "ipVersion": "v4" if res.afi is Afi.IPV4 else "v6",
        "name": _name(rec.delegation, rec.holder),
        "type": _type(rec.delegation),
        "cidr0_cidrs": cidr0_cidrs(res),
    }
    if rec.parent is not None:
        obj["parentHandle"] = network_handle(rec.parent)
    obj.update(_common(ctx, rec, self_href or f"{ctx.site.rdap}/{network_path(res)}"))
    return obj


def autnum_object(ctx: Context, rec: Record, self_href: str | None = None) -> JsonObject:
    res = rec.delegation.resource
    obj: JsonObject = {
        "objectClassName": "autnum",
        "handle": autnum_handle(res),
        "startAutnum": res.start,
        "endAutnum": res.end,
        "name": _name(rec.delegation, rec.holder),
        "type": _type(rec.delegation),
    }
    obj.update(_common(ctx, rec, self_href or f"{ctx.site.rdap}/autnum/{res.start}"))
    return obj


def resource_object(ctx: Context, rec: Record, self_href: str | None = None) -> JsonObject:
    if rec.delegation.resource.afi is Afi.ASN:
        return autnum_object(ctx, rec, self_href)
    return network_object(ctx, rec, self_href)


def object_path(res: Resource) -> str:
    """The path (under /rdap/) of the lookup that finds exactly this object."""
    return f"autnum/{res.start}" if res.afi is Afi.ASN else network_path(res)


def entity_lookup(
    ctx: Context, holder: Holder, records: Iterable[Record], limit: int
) -> JsonObject:
    """An entity with the networks and autnums it holds (as ARIN lists them), up to `limit`."""
    obj = entity_object(ctx, holder, nested=False)
    networks: list[JsonObject] = []
    autnums: list[JsonObject] = []
    truncated = False
    for count, rec in enumerate(records):
        if count >= limit:
            truncated = True
            break
        summary = resource_object(ctx, rec)
        summary.pop("entities", None)  # the entity itself: no need to repeat it in each one
        (autnums if rec.delegation.resource.afi is Afi.ASN else networks).append(summary)
    if networks:
        obj["networks"] = networks
    if autnums:
        obj["autnums"] = autnums
    if truncated:
        obj["remarks"] = [
            {
                "title": "truncated",
                "description": [f"only the first {limit} resources of this holder are listed"],
                "type": "result set truncated due to excessive load",
            }
        ]
    return top_level(ctx, obj)


def search_results(
    ctx: Context, member: str, objects: list[JsonObject], truncated: int | None = None
) -> JsonObject:
    """A search's answer; `truncated` (the cap) when there were more results (RFC 9083 4.3:
    a notice of type "result set truncated due to excessive load")."""
    body = top_level(ctx, {member: objects})
    if truncated is not None:
        body["notices"].append(
            {
                "title": "Result set truncated",
                "type": "result set truncated due to excessive load",
                "description": [
                    f"Only the first {truncated} results are listed; ask about a smaller range."
                ],
            }
        )
    return body


# --- onereg_versions_0: a record's history --------------------------------------------------

# A version's change, as the RDAP event it amounts to (RFC 9083 event actions).
CHANGE_EVENTS = {"added": "registration", "changed": "last changed", "removed": "deletion"}


@dataclass(frozen=True, slots=True)
class Version:
    """One log entry that changed a record: `delegation` is the record after it (None once the
    entry removed it)."""

    number: int
    seq: int
    time: str
    kind: str  # the log entry's kind (batch, delegation.added, transfer.registered, ...)
    change: str  # added, changed or removed
    delegation: Delegation | None


def version_summary(version: Version) -> JsonObject:
    return {
        "version": version.number,
        "seq": version.seq,
        "logKind": version.kind,
        "eventAction": CHANGE_EVENTS[version.change],
        "eventDate": version.time,
    }


def versions_list(
    ctx: Context, versions: Sequence[Version], history_href: str, latest_href: str | None
) -> JsonObject:
    """Every version of one record (RIPE whois --list-versions), oldest first."""
    listed = []
    for version in versions:
        entry = version_summary(version)
        if version.delegation is not None:
            res = version.delegation.resource
            entry["handle"] = autnum_handle(res) if res.afi is Afi.ASN else network_handle(res)
        href = f"{history_href}/{version.number}"
        entry["links"] = [link(ctx, "related", href)]
        listed.append(entry)
    links = [link(ctx, "self", history_href)]
    if latest_href is not None:
        links.append(link(ctx, "latest-version", latest_href))
    return top_level(ctx, {VERSIONS_MEMBER: listed, "links": links})


def version_object(
    ctx: Context, version: Version, rec: Record, history_href: str, latest_href: str | None
) -> JsonObject:
    """The record as one version left it (RIPE whois --show-version)."""
    obj = resource_object(ctx, rec, f"{history_href}/{version.number}")
    obj["links"].append(link(ctx, "version-history", history_href))
    if latest_href is not None:
        obj["links"].append(link(ctx, "latest-version", latest_href))
    obj[VERSION_MEMBER] = version_summary(version)
    return top_level(ctx, obj)


# --- RFC 9224 bootstrap -----------------------------------------------------------------------

Service = tuple[list[str], list[str]]


def bootstrap_file(description: str, publication: str, services: list[Service]) -> JsonObject:
    return {
        "version": "1.0",
        "publication": publication,
        "description": description,
        "services": [[entries, urls] for entries, urls in services],
    }
