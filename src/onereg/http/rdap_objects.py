"""RDAP response bodies (RFC 9083, NRO RDAP profile, cidr0) built from a node's records.

Pure functions of their inputs: no database, no HTTP. Keeping them apart from the routes lets the
shape of every object be tested without a server, and lets another front end (a static export,
a whois bridge) reuse the same objects.

The `onereg_versions_0` extension (see `onereg.http.rdap`) adds two response shapes: a version
list (`onereg_versions_0_versions`) and an object as it was at one version (the usual object with
an `onereg_versions_0_version` member). Only those responses name the extension in
`rdapConformance`.

Types. The `type` member as each registry's own RDAP service words it (RFC 9083 says only
that it is "an RIR-specific classification"). Sources: the real responses in ../shared/data/rdap
(ipwhois and whoisit test suites) and, for RIPE NCC's autnums, its RDAP server's source
(RIPE-NCC/whois, RdapObjectMapper: every aut-num is "DIRECT ALLOCATION"); AFRINIC runs a
derivative of RIPE's database software and words networks like it, but not LEGACY: its
196.11.239.0 - 196.11.246.255, in IANA's LEGACY 196/8, is ASSIGNED PI. A delegated file says
only allocated or assigned, and an assignment in it is a direct, provider-independent one.

| registry | IPv4 allocated / assigned      | IPv6 allocated / assigned      | autnum   |
|----------|--------------------------------|--------------------------------|----------|
| RIPE NCC | ALLOCATED PA / ASSIGNED PI,    | ALLOCATED-BY-RIR / ASSIGNED PI | DIRECT   |
|          | LEGACY (in IANA's LEGACY /8s)  |                                | ALLOC.*  |
| AFRINIC  | as RIPE NCC, without LEGACY    | as RIPE NCC                    | as RIPE  |
| ARIN     | DIRECT ALLOCATION / DIRECT ASSIGNMENT (both families, legacy too) | none     |
| APNIC    | ALLOCATED PORTABLE / ASSIGNED PORTABLE (both families)            | none     |
| LACNIC   | allocated / assigned (lower case, as LACNIC writes them)          | none     |

(*) "DIRECT ALLOCATION". "none": the registry's responses in the data carry no `type` for
the class (ARIN's autnum), or the data has no example (APNIC's and LACNIC's autnums), so the
member is left out rather than guessed. Pool space is AVAILABLE or RESERVED everywhere (lower
case at LACNIC): the RIRs do not serve it, so there is no word of theirs to follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
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
# The `type` vocabularies: see the module docstring (the table and its sources).
_RIPE_V4 = {"allocated": "ALLOCATED PA", "assigned": "ASSIGNED PI"}
_RIPE_STYLE = {
    "ipv4": {**_RIPE_V4, "legacy": "LEGACY"},
    "ipv6": {"allocated": "ALLOCATED-BY-RIR", "assigned": "ASSIGNED PI"},
    "asn": {"allocated": "DIRECT ALLOCATION", "assigned": "DIRECT ALLOCATION"},
}
_ARIN_IP = {"allocated": "DIRECT ALLOCATION", "assigned": "DIRECT ASSIGNMENT"}
_APNIC_IP = {"allocated": "ALLOCATED PORTABLE", "assigned": "ASSIGNED PORTABLE"}
_LACNIC_IP = {
    "allocated": "allocated",
    "assigned": "assigned",
    "available": "available",
    "reserved": "reserved",
}
TYPE_WORDS: dict[RegistryId, dict[str, dict[str, str]]] = {
    RegistryId.RIPENCC: _RIPE_STYLE,
    RegistryId.AFRINIC: {**_RIPE_STYLE, "ipv4": _RIPE_V4},
    RegistryId.ARIN: {"ipv4": _ARIN_IP, "ipv6": _ARIN_IP, "asn": {}},
    RegistryId.APNIC: {"ipv4": _APNIC_IP, "ipv6": _APNIC_IP, "asn": {}},
    RegistryId.LACNIC: {"ipv4": _LACNIC_IP, "ipv6": _LACNIC_IP, "asn": {}},
}
_POOL_WORDS = {Status.RESERVED.value: "RESERVED", Status.AVAILABLE.value: "AVAILABLE"}
_HELD = (Status.ALLOCATED.value, Status.ASSIGNED.value)


@dataclass(frozen=True, slots=True)
class Site:
    """Where this node's RDAP service and its policy pages live (the NRO profile's notices).

    `terms_url` and `inaccuracy_url` are HTML pages (the node's own, `terms_page` and
    `inaccuracy_page`, unless the operator names others); `port43` is the host name of the
    node's whois service (RFC 9083 4.7: a host, not a port)."""

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
            "description": [
                f"If you see inaccuracies in the results, please report them at "
                f"{ctx.site.inaccuracy_url}"
            ],
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
                        "terms-of-service, inaccuracy-report: the policy pages (HTML) the "
                        "notices link to",
                        "Every path answers a CORS preflight (OPTIONS); answers carry "
                        "Access-Control-Allow-Origin: * (RFC 7480 5.6).",
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
    legacy: bool = False  # in legacy space (a LEGACY block in IANA's registry): RIPE's LEGACY
    parent_href: str | None = None  # where the parent object is served ("up" link)


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
    if ctx.site.port43 and not nested:
        obj["port43"] = ctx.site.port43
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


def _type(rec: Record) -> str | None:
    """The record's `type` in its registry's words (see TYPE_WORDS), None where the registry
    gives none."""
    d = rec.delegation
    attrs = d.attrs or {}
    if attrs.get("iana_status"):  # the IANA node: IANA's own word for the block
        return str(attrs["iana_status"])
    words = TYPE_WORDS.get(d.registry, _RIPE_STYLE)[d.resource.afi.value]
    if rec.legacy and d.status in _HELD and "legacy" in words:
        return words["legacy"]
    if d.status in words:
        return words[d.status]
    if d.status in _HELD:
        return None
    return _POOL_WORDS.get(d.status, d.status.upper())


def network_object(ctx: Context, rec: Record, self_href: str | None = None) -> JsonObject:
    res = rec.delegation.resource
    obj: JsonObject = {
        "objectClassName": "ip network",
        "handle": network_handle(res),
        "startAddress": format_number(res.afi, res.start),
        "endAddress": format_number(res.afi, res.end),
        "ipVersion": "v4" if res.afi is Afi.IPV4 else "v6",
        "name": _name(rec.delegation, rec.holder),
        "cidr0_cidrs": cidr0_cidrs(res),
    }
    kind = _type(rec)
    if kind is not None:
        obj["type"] = kind
    if rec.parent is not None and rec.parent_href is not None:
        # only a parent someone serves: the "up" link says where (as APNIC gives one)
        obj["parentHandle"] = network_handle(rec.parent)
    obj.update(_common(ctx, rec, self_href or f"{ctx.site.rdap}/{network_path(res)}"))
    if "parentHandle" in obj and rec.parent_href is not None:
        obj["links"].append(link(ctx, "up", rec.parent_href))
    return obj


def autnum_object(ctx: Context, rec: Record, self_href: str | None = None) -> JsonObject:
    res = rec.delegation.resource
    obj: JsonObject = {
        "objectClassName": "autnum",
        "handle": autnum_handle(res),
        "startAutnum": res.start,
        "endAutnum": res.end,
        "name": _name(rec.delegation, rec.holder),
    }
    kind = _type(rec)
    if kind is not None:
        obj["type"] = kind
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
                "type": "object truncated due to unexplainable reasons",
            }
        ]
    return top_level(ctx, obj)


def search_results(
    ctx: Context, member: str, objects: list[JsonObject], truncated: int | None = None
) -> JsonObject:
    """A search's answer; `truncated` (the cap) when there were more results.

    RFC 9083 (4.3, 10.2.1) has the server say so with a notice of one of three registered types:
    "... due to authorization" (a client with more rights would get more), "... due to
    excessive load" (asking later would) and "... due to unexplainable reasons". A fixed cap
    per query is neither of the first two, so it is the third, as other registries' servers
    word a per-query limit (Google's Nomulus: "Search results per query are limited")."""
    body = top_level(ctx, {member: objects})
    if truncated is not None:
        body["notices"].append(
            {
                "title": "Result set truncated",
                "type": TRUNCATED,
                "description": [
                    f"Only the first {truncated} results are listed; ask about a smaller range."
                ],
            }
        )
    return body


TRUNCATED = "result set truncated due to unexplainable reasons"


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


# --- the policy pages the notices link to ------------------------------------------------------

# Each registry's own site, where a holder corrects its registration (the domains of the terms
# links in the registries' real RDAP responses, ../shared/data/rdap); ARIN's inaccuracy-report
# page is the one its own RDAP notices link to.
REGISTRY_SITES = {
    RegistryId.IANA: "https://www.iana.org/",
    RegistryId.AFRINIC: "https://www.afrinic.net/",
    RegistryId.APNIC: "https://www.apnic.net/",
    RegistryId.ARIN: "https://www.arin.net/resources/registry/whois/inaccuracy_reporting/",
    RegistryId.LACNIC: "https://www.lacnic.net/",
    RegistryId.RIPENCC: "https://www.ripe.net/",
}
HTML_TYPE = "text/html; charset=utf-8"
TERMS_PATH = "/rdap/terms-of-service"  # the node's own pages, under its public URL
INACCURACY_PATH = "/rdap/inaccuracy-report"


def _page(title: str, paragraphs: Iterable[str]) -> str:
    body = "".join(f"<p>{text}</p>\n" for text in paragraphs)
    head = f'<meta charset="utf-8"><title>{escape(title)}</title>'
    heading = f"<h1>{escape(title)}</h1>\n"
    page = f'<html lang="en"><head>{head}</head>\n<body>\n{heading}{body}</body></html>\n'
    return "<!DOCTYPE html>\n" + page


def terms_page(site: Site) -> str:
    """The terms of service the notices link to (an HTML page, as the link's type says)."""
    name = escape(site.registry.display_name)
    rdap = escape(site.rdap)
    return _page(
        f"{site.registry.display_name} RDAP: terms of service",
        [
            f"This is the {name} registry of the onereg federation. Every answer is derived "
            "from the registry's published log, which anyone may mirror and verify; the log, "
            "not this service, is the record.",
            "The service is offered for looking up who holds Internet number resources. "
            "Queries are limited per client; a client over its limit is answered 429.",
            f'What the service answers: <a href="{rdap}/help">{rdap}/help</a>.',
        ],
    )


def inaccuracy_page(site: Site) -> str:
    """Where to report an inaccurate record: the registry that published it."""
    name = escape(site.registry.display_name)
    contact = escape(REGISTRY_SITES.get(site.registry, "https://www.nro.net/"))
    return _page(
        f"{site.registry.display_name} RDAP: reporting inaccuracies",
        [
            f"The records here are the ones {name} published, as its log recorded them; each "
            "object's remarks name the log entry that wrote it.",
            f'To have a record corrected, report it to {name}: <a href="{contact}">{contact}</a>, '
            "giving the object's handle and that log entry.",
        ],
    )


# --- RFC 9224 bootstrap -----------------------------------------------------------------------

Service = tuple[list[str], list[str]]


def bootstrap_file(description: str, publication: str, services: list[Service]) -> JsonObject:
    return {
        "version": "1.0",
        "publication": publication,
        "description": description,
        "services": [[entries, urls] for entries, urls in services],
    }
