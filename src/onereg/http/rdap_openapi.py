"""An OpenAPI 3.1 description of a node's RDAP service, served at /rdap/openapi.json.

Written for clients and for tools that judge the server by it (schemathesis): every status a
route can give is declared, with its media type (`application/rdap+json` for RDAP objects and
errors, `application/json` for the RFC 9224 bootstrap files and this document). The response
schemas are closed (`additionalProperties: false`) so that a member the server starts sending
without documenting it is a schema violation; members a client may see from any RIR but that this
server never sends are not listed.

Parameters are described as tightly as one parameter alone allows (an address is an IPv4 or
IPv6 address, a prefix length 0..128, an AS number 0..4294967295). What depends on two parameters
together (a /33 for IPv4, host bits set) is a 400 that the schema cannot foresee.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onereg.http import rdap_asof
from onereg.http.rdap_objects import (
    INACCURACY_PATH,
    MEDIA_TYPE,
    TERMS_PATH,
    VERSION_MEMBER,
    VERSIONS_EXTENSION,
    VERSIONS_MEMBER,
)

JsonSchema = dict[str, Any]

_REF = "#/components/schemas/"
_STATUS_VALUES = ["active", "inactive", "reserved"]
_RELATIONS = ["rdap-up", "rdap-down", "rdap-top", "rdap-bottom", "up", "down", "top", "bottom"]
_AUTNUM_RELATIONS = ["rdap-up", "rdap-top", "up", "top"]


def _ref(name: str) -> JsonSchema:
    return {"$ref": _REF + name}


def _closed(required: list[str], properties: dict[str, JsonSchema]) -> JsonSchema:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def _strings() -> JsonSchema:
    return {"type": "array", "items": {"type": "string"}}


def _array(name: str) -> JsonSchema:
    return {"type": "array", "items": _ref(name)}


_TOP = {
    "rdapConformance": {
        "type": "array",
        "items": {"type": "string"},
        "contains": {"const": "rdap_level_0"},
    },
    "notices": _array("Notice"),
}


def _object_members(kind: str) -> dict[str, JsonSchema]:
    """Members of an ip network or autnum object (nested: without the top-level members)."""
    common: dict[str, JsonSchema] = {
        "handle": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "status": {"type": "array", "items": {"enum": _STATUS_VALUES}, "minItems": 1},
        "events": _array("Event"),
        "links": _array("Link"),
        "port43": {"type": "string"},
        "entities": _array("Entity"),
        "remarks": _array("Notice"),
    }
    if kind == "autnum":
        number = {"type": "integer", "minimum": 0, "maximum": 4294967295}
        return {
            "objectClassName": {"const": "autnum"},
            "startAutnum": number,
            "endAutnum": number,
            **common,
        }
    return {
        "objectClassName": {"const": "ip network"},
        "startAddress": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "endAddress": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "ipVersion": {"enum": ["v4", "v6"]},
        "parentHandle": {"type": "string"},
        "cidr0_cidrs": _array("Cidr0"),
        **common,
    }


_REQUIRED = {
    "ip network": ["objectClassName", "handle", "startAddress", "endAddress", "ipVersion"],
    "autnum": ["objectClassName", "handle", "startAutnum", "endAutnum"],
}


def _version_summary(with_links: bool) -> JsonSchema:
    properties: dict[str, JsonSchema] = {
        "version": {"type": "integer", "minimum": 1},
        "seq": {"type": "integer", "minimum": 1},
        "logKind": {"type": "string"},
        "eventAction": {"enum": ["registration", "last changed", "deletion"]},
        "eventDate": {"type": "string", "format": "date-time"},
    }
    required = list(properties)
    if with_links:
        properties["handle"] = {"type": "string"}
        properties["links"] = _array("Link")
        required.append("links")
    return _closed(required, properties)


def _schemas() -> dict[str, JsonSchema]:
    network, autnum = _object_members("ip network"), _object_members("autnum")
    summary = {k: v for k, v in network.items() if k != "entities"}
    autnum_summary = {k: v for k, v in autnum.items() if k != "entities"}
    version = {VERSION_MEMBER: _version_summary(False)}
    return {
        "Link": _closed(
            ["href"],
            {
                "value": {"type": "string"},
                "rel": {"type": "string"},
                "href": {"type": "string", "minLength": 1},
                "type": {"type": "string"},
                "hreflang": {"type": "string"},
                "title": {"type": "string"},
                "media": {"type": "string"},
            },
        ),
        "Notice": _closed(
            ["description"],
            {
                "title": {"type": "string"},
                "type": {"type": "string"},
                "description": _strings(),
                "links": _array("Link"),
            },
        ),
        "Event": _closed(
            ["eventAction", "eventDate"],
            {
                "eventAction": {"type": "string"},
                "eventDate": {"type": "string", "format": "date-time"},
                "eventActor": {"type": "string"},
            },
        ),
        "Cidr0": {
            "oneOf": [
                _closed(
                    ["v4prefix", "length"],
                    {
                        "v4prefix": {"type": "string", "format": "ipv4"},
                        "length": {"type": "integer", "minimum": 0, "maximum": 32},
                    },
                ),
                _closed(
                    ["v6prefix", "length"],
                    {
                        "v6prefix": {"type": "string", "format": "ipv6"},
                        "length": {"type": "integer", "minimum": 0, "maximum": 128},
                    },
                ),
            ]
        },
        "VCardArray": {  # ["vcard", [property, ...]] (RFC 7095)
            "type": "array",
            "items": {"anyOf": [{"const": "vcard"}, {"type": "array", "items": {"type": "array"}}]},
            "minItems": 2,
            "maxItems": 2,
        },
        "Entity": _closed(
            ["objectClassName", "handle"],
            {
                "objectClassName": {"const": "entity"},
                "handle": {"type": "string"},
                "vcardArray": _ref("VCardArray"),
                "roles": _strings(),
                "links": _array("Link"),
                "events": _array("Event"),
            },
        ),
        "IpNetwork": _closed(_REQUIRED["ip network"], network),
        "Autnum": _closed(_REQUIRED["autnum"], autnum),
        "IpNetworkSummary": _closed(_REQUIRED["ip network"], summary),
        "AutnumSummary": _closed(_REQUIRED["autnum"], autnum_summary),
        "IpNetworkResponse": _closed(
            ["rdapConformance", "notices", *_REQUIRED["ip network"]], {**_TOP, **network}
        ),
        "AutnumResponse": _closed(
            ["rdapConformance", "notices", *_REQUIRED["autnum"]], {**_TOP, **autnum}
        ),
        "ResourceResponse": {
            "oneOf": [_ref("IpNetworkResponse"), _ref("AutnumResponse")],
        },
        "EntityResponse": _closed(
            ["rdapConformance", "notices", "objectClassName", "handle"],
            {
                **_TOP,
                "objectClassName": {"const": "entity"},
                "handle": {"type": "string"},
                "vcardArray": _ref("VCardArray"),
                "links": _array("Link"),
                "events": _array("Event"),
                "port43": {"type": "string"},
                "remarks": _array("Notice"),
                "networks": _array("IpNetworkSummary"),
                "autnums": _array("AutnumSummary"),
            },
        ),
        "Help": _closed(
            ["rdapConformance", "notices"],
            {**_TOP, "links": _array("Link"), "remarks": _array("Notice")},
        ),
        "IpSearchResults": _closed(
            ["rdapConformance", "notices", "ipSearchResults"],
            {**_TOP, "ipSearchResults": _array("IpNetwork")},
        ),
        "AutnumSearchResults": _closed(
            ["rdapConformance", "notices", "autnumSearchResults"],
            {**_TOP, "autnumSearchResults": _array("Autnum")},
        ),
        "Error": _closed(
            ["rdapConformance", "errorCode", "title", "description"],
            {
                **_TOP,
                "errorCode": {"type": "integer", "minimum": 400, "maximum": 599},
                "title": {"type": "string"},
                "description": _strings(),
            },
        ),
        "Versions": _closed(
            ["rdapConformance", "notices", VERSIONS_MEMBER, "links"],
            {
                **_TOP,
                VERSIONS_MEMBER: {"type": "array", "items": _version_summary(True)},
                "links": _array("Link"),
            },
        ),
        "VersionResponse": {
            "oneOf": [
                _closed(
                    ["rdapConformance", "notices", *_REQUIRED["ip network"], VERSION_MEMBER],
                    {**_TOP, **network, **version},
                ),
                _closed(
                    ["rdapConformance", "notices", *_REQUIRED["autnum"], VERSION_MEMBER],
                    {**_TOP, **autnum, **version},
                ),
            ]
        },
        "Bootstrap": _closed(
            ["version", "publication", "services"],
            {
                "version": {"const": "1.0"},
                "publication": {"type": "string"},
                "description": {"type": "string"},
                "services": {
                    "type": "array",
                    "items": {  # [entries, URLs]
                        "type": "array",
                        "items": _strings(),
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            },
        ),
    }


# --- parameters -----------------------------------------------------------------------------


def _path(name: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


Examples = Mapping[str, str | int]


def _with_examples(parameters: list[JsonSchema], examples: Examples) -> list[JsonSchema]:
    """Parameters with an `example` where the node gave one (values that find its records)."""
    out = []
    for parameter in parameters:
        value = examples.get(parameter["name"])
        out.append(parameter if value is None else {**parameter, "example": value})
    return out


_ADDRESS_SCHEMA: JsonSchema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
ADDRESS = _path("address", _ADDRESS_SCHEMA, "an IPv4 or IPv6 address")
PREFIX = _path("prefix", _ADDRESS_SCHEMA, "the first address of a prefix")
LENGTH = _path(
    "length",
    {"type": "integer", "minimum": 0, "maximum": 128},
    "the prefix length (at most 32 for IPv4; no host bits may be set)",
)
ASN = _path(
    "asn", {"type": "integer", "minimum": 0, "maximum": 4294967295}, "an AS number, digits only"
)
HANDLE = _path(
    "handle",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9_.:-]+$"},
    "an entity (holder) handle",
)
AS_OF_PARAMETER: JsonSchema = rdap_asof.PARAMETER
VERSION = _path("n", {"type": "integer", "minimum": 1}, "a version number, 1 the oldest")


def _relation(values: list[str]) -> JsonSchema:
    return _path("relation", {"enum": values}, "an RFC 9910 relation (the rdap- prefix optional)")


# --- responses ------------------------------------------------------------------------------


def _rdap(description: str, schema: JsonSchema) -> JsonSchema:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


_ERRORS = {
    "400": _rdap("malformed query", _ref("Error")),
    "414": _rdap("query longer than 1024 bytes", _ref("Error")),
}
_NOT_FOUND = {"404": _rdap("nothing found", _ref("Error"))}
_REDIRECT = {
    "301": {
        "description": "another registry is authoritative: its URL for the same query",
        "headers": {
            "Location": {"required": True, "schema": {"type": "string", "format": "uri"}},
        },
    }
}


def _get(
    summary: str,
    parameters: list[JsonSchema],
    ok: JsonSchema,
    *others: dict[str, JsonSchema],
    tags: tuple[str, ...] = ("lookup",),
    examples: Examples | None = None,
) -> JsonSchema:
    responses: dict[str, JsonSchema] = {"200": ok}
    for more in (*others, _ERRORS):
        responses.update(more)
    operation: JsonSchema = {"summary": summary, "tags": list(tags), "responses": responses}
    if parameters:
        operation["parameters"] = _with_examples(parameters, examples or {})
    return {"get": operation}


def _json(description: str, schema: JsonSchema) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _paths(examples: Examples) -> dict[str, JsonSchema]:
    resource = _rdap("the registry's record", _ref("ResourceResponse"))
    versions = _rdap("every version of the record, oldest first", _ref("Versions"))
    one_version = _rdap("the record as this version left it", _ref("VersionResponse"))
    lookups = {
        "/rdap/ip/{address}": ("the network containing an address", [ADDRESS]),
        "/rdap/ip/{prefix}/{length}": ("the network containing a prefix", [PREFIX, LENGTH]),
        "/rdap/autnum/{asn}": ("the AS number range containing an AS number", [ASN]),
    }
    paths: dict[str, JsonSchema] = {}
    for path, (summary, params) in lookups.items():
        paths[path] = _get(summary, params, resource, _REDIRECT, _NOT_FOUND, examples=examples)
        paths[path]["get"]["parameters"].append(AS_OF_PARAMETER)  # onereg extension: the past
        paths[f"{path}/versions"] = _get(
            f"history of {summary} ({VERSIONS_EXTENSION})",
            params,
            versions,
            _REDIRECT,
            _NOT_FOUND,
            tags=("history",),
            examples=examples,
        )
        paths[f"{path}/versions/{{n}}"] = _get(
            f"one version of {summary} ({VERSIONS_EXTENSION})",
            [*params, VERSION],
            one_version,
            _REDIRECT,
            _NOT_FOUND,
            tags=("history",),
            examples=examples,
        )
    paths["/rdap/entity/{handle}"] = _get(
        "a holder, with the networks and AS numbers it holds",
        [HANDLE],
        _rdap("the holder", _ref("EntityResponse")),
        _NOT_FOUND,
        examples=examples,
    )
    paths["/rdap/help"] = _get("what this service answers", [], _rdap("help", _ref("Help")))
    for afi in ("ipv4", "ipv6", "asn"):
        paths[f"/rdap/bootstrap/{afi}.json"] = _get(
            f"RFC 9224 bootstrap file for {afi}, cut from the federation's authority map",
            [],
            _json("the bootstrap file", _ref("Bootstrap")),
            tags=("bootstrap",),
        )
    ip_results = _rdap("the networks found", _ref("IpSearchResults"))
    paths["/rdap/ips/rirSearch1/{relation}/{prefix}"] = _get(
        "RFC 9910 search from an address",
        [_relation(_RELATIONS), PREFIX],
        ip_results,
        _NOT_FOUND,
        tags=("rirSearch1",),
        examples=examples,
    )
    paths["/rdap/ips/rirSearch1/{relation}/{prefix}/{length}"] = _get(
        "RFC 9910 search from a prefix",
        [_relation(_RELATIONS), PREFIX, LENGTH],
        ip_results,
        _NOT_FOUND,
        tags=("rirSearch1",),
        examples=examples,
    )
    paths["/rdap/autnums/rirSearch1/{relation}/{asn}"] = _get(
        "RFC 9910 search from an AS number",
        [_relation(_AUTNUM_RELATIONS), ASN],
        _rdap("the AS number ranges found", _ref("AutnumSearchResults")),
        _NOT_FOUND,
        tags=("rirSearch1",),
        examples=examples,
    )
    for path, what in (
        (TERMS_PATH, "terms of service"),
        (INACCURACY_PATH, "reporting inaccuracies"),
    ):
        page = {"description": what, "content": {"text/html": {"schema": {"type": "string"}}}}
        operation = {"summary": f"{what} (the page the notices link to)", "tags": ["meta"]}
        paths[path] = {"get": {**operation, "responses": {"200": page}}}
    paths["/rdap/openapi.json"] = _get(
        "this document", [], _json("OpenAPI 3.1", {"type": "object"}), tags=("meta",)
    )
    return paths


def openapi_document(
    base_url: str, registry_name: str, examples: Examples | None = None
) -> dict[str, Any]:
    """The document for a node whose public URL (without /rdap) is `base_url`; `examples` maps
    parameter names (address, prefix, length, asn, handle) to values that find its records."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{registry_name} RDAP (onereg)",
            "version": "1",
            "description": (
                "RDAP (RFC 7480, 9082, 9083) with the NRO profile, cidr0, RFC 9910 RIR search, "
                "RFC 9224 bootstrap files and the onereg_versions_0 history extension. Queries "
                "for resources another registry is authoritative for are redirected (301)."
            ),
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": _paths(examples or {}),
        "components": {"schemas": _schemas()},
    }
