"""Route origin validation (RFC 6811): is a BGP announcement authorised by the VRPs?

RFC 6811 section 2, restated as the code applies it:
  * a VRP *covers* a route when the VRP prefix is equal to or less specific than the route
    prefix (same family, VRP length <= route length, the first VRP-length bits agree);
  * a covering VRP *matches* when its AS equals the route's origin AS, the origin is not NONE
    (AS_PATH ending in an AS_SET), and the route length <= the VRP's maxLength;
  * no covering VRP -> not-found; some matching VRP -> valid; covered but none matches ->
    invalid. A VRP for AS0 covers but can never match (RFC 6483 section 4, RFC 7607), so it
    turns everything it covers invalid unless another VRP matches.

Invalid routes get a reason the way operators read it: "length" when some covering VRP names
the origin AS but its maxLength is too short, "as" otherwise.

The fast path (`validate_routes`) works on numpy columns (`rov_index`); `validate_reference`
is a direct transcription with `ipaddress`, kept for the property test and for tiny inputs.
"""

from __future__ import annotations

import csv
import enum
import io
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from onereg.rpki.rov_index import (
    I8,
    I64,
    ORIGIN_NONE,
    Bools,
    CoverIndex,
    PrefixColumns,
    RouteSet,
    VrpSet,
    VrpTuple,
    ipv4_cover_pairs,
    routes_from_tuples,
    vrps_from_tuples,
)

if TYPE_CHECKING:
    from onereg.rpki.colcache import ColumnCache

__all__ = [
    "FamilyResult",
    "RovResult",
    "RovRow",
    "State",
    "rov_command",
    "summary_rows",
    "validate_reference",
    "validate_routes",
    "write_csv",
    "write_csv_columns",
    "write_json",
    "write_json_columns",
]

VALID, INVALID, NOT_FOUND = 1, 2, 0


class State(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    NOT_FOUND = "not-found"


_STATE_BY_CODE = {VALID: State.VALID, INVALID: State.INVALID, NOT_FOUND: State.NOT_FOUND}


@dataclass(frozen=True)
class RovRow:
    """One route's outcome, with the VRPs that decided it: the matching ones when valid, every
    covering one when invalid (each of them failed), none when not found."""

    prefix: str
    origin: int | None
    state: State
    reason: str  # "" unless invalid: "as" or "length"
    vrps: tuple[VrpTuple, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "origin": self.origin,
            "state": str(self.state),
            "reason": self.reason,
            "vrps": [
                {"asn": asn, "prefix": prefix, "max_length": maxlen}
                for asn, prefix, maxlen in self.vrps
            ],
        }


@dataclass(frozen=True)
class FamilyResult:
    """Outcome for one address family, kept as columns so a full table costs no Python objects
    until someone asks for rows."""

    routes: PrefixColumns
    vrps: PrefixColumns
    state: I8
    wrong_length: Bools  # some covering VRP names the origin but its maxLength is too short
    pair_route: I64  # every (route, covering VRP) pair, unordered
    pair_vrp: I64
    pair_match: Bools

    def counts(self) -> dict[str, int]:
        valid = int(np.count_nonzero(self.state == VALID))
        invalid = int(np.count_nonzero(self.state == INVALID))
        length = int(np.count_nonzero((self.state == INVALID) & self.wrong_length))
        return {
            "routes": len(self.routes),
            "valid": valid,
            "invalid": invalid,
            "invalid_as": invalid - length,
            "invalid_length": length,
            "not_found": len(self.routes) - valid - invalid,
        }

    def rows(self) -> Iterator[RovRow]:
        order = np.argsort(self.pair_route, kind="stable")
        bounds = np.searchsorted(self.pair_route[order], np.arange(len(self.routes) + 1)).tolist()
        pair_vrp = self.pair_vrp[order].tolist()
        pair_match = self.pair_match[order].tolist()
        states = self.state.tolist()
        wrong_length = self.wrong_length.tolist()
        origins = self.routes.asn.tolist()
        prefixes = self.routes.prefixes()
        vrp_cache: dict[int, VrpTuple] = {}
        for i, state_code in enumerate(states):
            decided: list[VrpTuple] = []
            for k in range(bounds[i], bounds[i + 1]):
                if state_code == VALID and not pair_match[k]:
                    continue
                v = pair_vrp[k]
                vrp = vrp_cache.get(v)
                if vrp is None:
                    vrp = (int(self.vrps.asn[v]), self.vrps.prefix(v), int(self.vrps.extra[v]))
                    vrp_cache[v] = vrp
                decided.append(vrp)
            state = _STATE_BY_CODE[state_code]
            reason = ""
            if state is State.INVALID:
                reason = "length" if wrong_length[i] else "as"
            origin = origins[i]
            yield RovRow(
                prefixes[i],
                None if origin == ORIGIN_NONE else origin,
                state,
                reason,
                tuple(sorted(decided, key=_vrp_sort_key)) if len(decided) > 1 else tuple(decided),
            )


def _vrp_sort_key(vrp: VrpTuple) -> tuple[int, str, int]:
    return vrp[0], vrp[1], vrp[2]


@dataclass(frozen=True)
class RovResult:
    v4: FamilyResult
    v6: FamilyResult

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per state and family, plus the total."""
        per = {"ipv4": self.v4.counts(), "ipv6": self.v6.counts()}
        per["total"] = {key: per["ipv4"][key] + per["ipv6"][key] for key in per["ipv4"]}
        return per

    def rows(self) -> Iterator[RovRow]:
        """Per-route outcomes: IPv4 first, then IPv6, each in input order."""
        yield from self.v4.rows()
        yield from self.v6.rows()


def _validate_family(vrps: PrefixColumns, routes: PrefixColumns) -> FamilyResult:
    if vrps.family == 4:  # searched from the VRP side (see ipv4_cover_pairs)
        pair_route, pair_vrp = ipv4_cover_pairs(vrps, routes)
    else:
        pair_route, pair_vrp = CoverIndex(vrps).cover_pairs(routes)
    vrp_asn = vrps.asn[pair_vrp]
    origin = routes.asn[pair_route]
    same_as = (vrp_asn == origin) & (vrp_asn != 0) & (origin != ORIGIN_NONE)
    length_ok = routes.length[pair_route] <= vrps.extra[pair_vrp]
    match = same_as & length_ok
    state = np.zeros(len(routes), dtype=np.int8)
    state[pair_route] = INVALID
    state[pair_route[match]] = VALID
    wrong_length = np.zeros(len(routes), dtype=np.bool_)
    wrong_length[pair_route[same_as]] = True
    return FamilyResult(routes, vrps, state, wrong_length, pair_route, pair_vrp, match)


def validate_routes(
    vrps: VrpSet | Iterable[VrpTuple],
    routes: RouteSet | Iterable[tuple[str, int | None]],
) -> RovResult:
    """RFC 6811 origin validation of every route against every VRP.

    Accepts the column sets the readers produce, or plain tuples ((asn, prefix, maxLength) and
    (prefix, origin-or-None)) so that our own validator's VRPs can be fed in directly.
    """
    vrp_set = vrps if isinstance(vrps, VrpSet) else vrps_from_tuples(vrps)
    route_set = routes if isinstance(routes, RouteSet) else routes_from_tuples(routes)
    return RovResult(
        _validate_family(vrp_set.v4, route_set.v4),
        _validate_family(vrp_set.v6, route_set.v6),
    )


def validate_reference(
    vrps: Sequence[VrpTuple], routes: Sequence[tuple[str, int | None]]
) -> list[tuple[State, str, frozenset[VrpTuple]]]:
    """RFC 6811 word for word, one route and one VRP at a time: the yardstick for the fast path.

    Returns (state, reason, VRPs that decided it) per route, in input order.
    """
    parsed = [(asn, ipaddress.ip_network(p), maxlen, (asn, p, maxlen)) for asn, p, maxlen in vrps]
    out: list[tuple[State, str, frozenset[VrpTuple]]] = []
    for prefix, origin in routes:
        net = ipaddress.ip_network(prefix)
        covering = [
            v
            for v in parsed
            if v[1].version == net.version
            and v[1].prefixlen <= net.prefixlen
            and net.subnet_of(v[1])  # type: ignore[arg-type]
        ]
        matching = [
            v
            for v in covering
            if origin is not None and v[0] == origin and v[0] != 0 and net.prefixlen <= v[2]
        ]
        if matching:
            out.append((State.VALID, "", frozenset(v[3] for v in matching)))
        elif covering:
            by_as = any(origin is not None and v[0] == origin and v[0] != 0 for v in covering)
            out.append(
                (State.INVALID, "length" if by_as else "as", frozenset(v[3] for v in covering))
            )
        else:
            out.append((State.NOT_FOUND, "", frozenset()))
    return out


SUMMARY_COLUMNS = (
    "family",
    "routes",
    "valid",
    "invalid",
    "invalid_as",
    "invalid_length",
    "not_found",
)


def summary_rows(result: RovResult) -> list[tuple[str | int, ...]]:
    """The summary as table rows (header first), ready for the CLI to print."""
    summary = result.summary()
    rows: list[tuple[str | int, ...]] = [SUMMARY_COLUMNS]
    for family in ("ipv4", "ipv6", "total"):
        counts = summary[family]
        rows.append((family, *(counts[c] for c in SUMMARY_COLUMNS[1:])))
    return rows


CSV_COLUMNS = ("prefix", "origin", "state", "reason", "vrps")


def _vrp_text(vrps: Iterable[VrpTuple]) -> str:
    return " ".join(f"AS{asn}:{prefix}-{maxlen}" for asn, prefix, maxlen in vrps)


def write_csv(rows: Iterable[RovRow], out: IO[str]) -> int:
    """One line per route; the deciding VRPs in one column as "AS64496:192.0.2.0/24-24 ..."."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in rows:
        origin = "" if row.origin is None else row.origin
        writer.writerow((row.prefix, origin, str(row.state), row.reason, _vrp_text(row.vrps)))
        n += 1
    return n


# A route's state and reason words, by state code * 2 + wrong length (only an invalid route's
# reason tells the two apart), as the CSV row (after the origin) and the JSON object write them.
_WORDS = {
    VALID * 2: ("valid", ""),
    VALID * 2 + 1: ("valid", ""),
    INVALID * 2: ("invalid", "as"),
    INVALID * 2 + 1: ("invalid", "length"),
    NOT_FOUND * 2: ("not-found", ""),
    NOT_FOUND * 2 + 1: ("not-found", ""),
}
_CSV_STATE = {code: f"{state},{reason}" for code, (state, reason) in _WORDS.items()}
_JSON_STATE = {
    code: f'"state":"{state}","reason":"{reason}"' for code, (state, reason) in _WORDS.items()
}
_CSV_CHUNK = 1 << 14  # rows joined per write


def write_csv_columns(result: RovResult, out: IO[str], only: Iterable[State] = ()) -> int:
    """What `write_csv(result.rows())` writes, filtered by `only`, built from the columns: no
    row object, each VRP formatted once, one write per 16,384 rows (the row objects cost ~10 us
    a route, 5 s for a full table). The fields never hold a comma, a quote or a line break, so
    the csv module would quote none of them."""
    out.write(",".join(CSV_COLUMNS) + "\n")
    written = 0
    for chunk, rows in _column_rows(result, only, json=False):
        out.write(chunk)
        written += rows
    return written


def write_json_columns(result: RovResult, out: IO[bytes], only: Iterable[State] = ()) -> int:
    """What `write_json` writes for the rows of `result` in `only`, built from the columns as
    `write_csv_columns` builds its rows. Prefixes and words need no JSON escaping."""
    out.write(b'{"summary":' + orjson.dumps(result.summary()) + b',"routes":[')
    written = 0
    for chunk, rows in _column_rows(result, only, json=True):
        # every row is written as ",{...}\n"; the first of all as "\n{...}\n"
        out.write((chunk if written else "\n" + chunk[1:]).encode())
        written += rows
    out.write(b"]}\n")
    return written


def _column_rows(
    result: RovResult, only: Iterable[State], *, json: bool
) -> Iterator[tuple[str, int]]:
    """(text, rows in it) for the routes in `only` (all when empty), IPv4 then IPv6."""
    wanted = {code for code, state in _STATE_BY_CODE.items() if state in set(only)}
    for family in (result.v4, result.v6):
        if len(family.routes):
            yield from _family_rows(family, wanted, json)


def _family_rows(family: FamilyResult, wanted: set[int], json: bool) -> Iterator[tuple[str, int]]:
    """One family's rows in input order, as CSV lines or JSON objects (each after a comma), in
    chunks; the deciding VRPs as `FamilyResult.rows` picks them. Most routes have one deciding
    VRP or none, so only the others sort in Python."""
    state = family.state
    decides = family.pair_match | (state[family.pair_route] != VALID)
    pair_route, pair_vrp = family.pair_route[decides], family.pair_vrp[decides]
    order = np.argsort(pair_route, kind="stable")
    bounds = np.searchsorted(pair_route[order], np.arange(len(family.routes) + 1))
    used, deciding = np.unique(pair_vrp[order], return_inverse=True)  # places among the used
    vrps = family.vrps
    used_vrps = PrefixColumns(
        vrps.family,
        vrps.hi[used],
        vrps.lo[used],
        vrps.length[used],
        vrps.extra[used],
        vrps.asn[used],
    )
    asns, prefixes, maxlens = (
        used_vrps.asn.tolist(),
        used_vrps.prefixes(),
        used_vrps.extra.tolist(),
    )
    if json:
        texts = [
            f'{{"asn":{a},"prefix":"{p}","max_length":{m}}}'
            for a, p, m in zip(asns, prefixes, maxlens, strict=True)
        ]
    else:
        texts = [f"AS{a}:{p}-{m}" for a, p, m in zip(asns, prefixes, maxlens, strict=True)]
    joiner = "," if json else " "
    counts = np.diff(bounds)
    decided = [""] * len(family.routes)
    single = np.flatnonzero(counts == 1)
    for i, place in zip(single.tolist(), deciding[bounds[single]].tolist(), strict=True):
        decided[i] = texts[place]
    places = deciding.tolist()
    for i in np.flatnonzero(counts > 1).tolist():
        run = sorted(
            places[bounds[i] : bounds[i + 1]], key=lambda v: (asns[v], prefixes[v], maxlens[v])
        )
        decided[i] = joiner.join([texts[v] for v in run])
    label_of = _JSON_STATE if json else _CSV_STATE
    labels = [label_of[code] for code in (state * 2 + family.wrong_length).tolist()]
    none = "null" if json else ""
    origins = [none if a == ORIGIN_NONE else str(a) for a in family.routes.asn.tolist()]
    rows = family.routes.prefixes()
    keep = np.isin(state, list(wanted)) if wanted else None
    picked = range(len(rows)) if keep is None else np.flatnonzero(keep).tolist()
    for first in range(0, len(picked), _CSV_CHUNK):
        part = picked[first : first + _CSV_CHUNK]
        if json:
            lines = [
                f',{{"prefix":"{rows[i]}","origin":{origins[i]},{labels[i]},"vrps":[{decided[i]}]}}\n'
                for i in part
            ]
        else:
            lines = [f"{rows[i]},{origins[i]},{labels[i]},{decided[i]}\n" for i in part]
        yield "".join(lines), len(lines)


def write_json(result: RovResult, out: IO[bytes], rows: Iterable[RovRow] | None = None) -> int:
    """{"summary": ..., "routes": [...]}, streamed route by route so a full table stays small."""
    out.write(b'{"summary":' + orjson.dumps(result.summary()) + b',"routes":[')
    n = 0
    for row in result.rows() if rows is None else rows:
        out.write((b"," if n else b"\n") + orjson.dumps(row.as_dict()) + b"\n")
        n += 1
    out.write(b"]}\n")
    return n


@dataclass(frozen=True)
class RovCommandResult:
    result: RovResult
    summary: list[tuple[str | int, ...]]
    routes_read: int
    vrps_read: int
    written: int


RouteFormat = Literal["auto", "prefix-origin", "bgpdump", "mrt"]
VrpFormat = Literal["auto", "json", "csv"]
OutputFormat = Literal["none", "csv", "json"]


def rov_command(
    vrp_paths: Sequence[Path],
    route_paths: Sequence[Path],
    *,
    route_format: RouteFormat = "auto",
    vrp_format: VrpFormat = "auto",
    output: OutputFormat = "none",
    out: IO[str] | IO[bytes] | None = None,
    only: Sequence[State] = (),
    max_records: int | None = None,
    allow_truncated: bool = False,
    step: Callable[[str], None] | None = None,
    cache: ColumnCache | None = None,
) -> RovCommandResult:
    """The body of `onereg rov`: read VRPs and routes, validate, optionally write per-route rows.

    `max_records` caps each route file (MRT: records, text: lines with routes) and
    `allow_truncated` accepts a cut-off MRT file. `only` filters the written rows by state
    (e.g. just the invalid ones); the summary always counts everything. CSV goes to a text
    stream, JSON to a binary one. `step` hears the name of each step as it starts. `cache`
    keeps the columns read from each file, for the next run on the same bytes.
    """
    from onereg.rpki.routes import read_routes, read_vrps

    say = step or (lambda _: None)  # progress: the step now under way
    say("reading VRPs")
    vrps = read_vrps(vrp_paths, fmt=vrp_format, cache=cache)
    say("reading routes")
    routes = read_routes(
        route_paths,
        fmt=route_format,
        max_records=max_records,
        allow_truncated=allow_truncated,
        cache=cache,
    )
    say("validating")
    result = validate_routes(vrps, routes)
    say("writing rows")
    written = 0
    if output == "csv":
        if out is None or isinstance(out, io.BufferedIOBase | io.RawIOBase):
            raise ValueError("CSV output needs a text stream")
        written = write_csv_columns(result, out, only)  # type: ignore[arg-type]
    elif output == "json":
        if out is None or isinstance(out, io.TextIOBase):
            raise ValueError("JSON output needs a binary stream")
        written = write_json_columns(result, out, only)  # type: ignore[arg-type]
    return RovCommandResult(result, summary_rows(result), len(routes), len(vrps), written)
