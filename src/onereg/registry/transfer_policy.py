"""The five RIRs' transfer policies as data, and a pure evaluator over them.

Why data and not code: a registry's policy changes by vote, on a date, and a transfer must be
judged by the text in force on its own date; a reviewer must be able to check every yes and no
against the policy document without reading Python. So each registry has one TOML file under
``policies/`` holding every version of its policy, each rule citing the section it comes from,
and ``evaluate`` only combines those rules: it has no registry-specific branch, and everything it
refuses names the registry, the policy version and the section that refused it.

File layout (``policies/<registry>.toml``, one per registry; read with ``tomllib``)::

    schema = 1
    registry = "arin"            # must match the file name
    policy = "NRPM"              # policy id; a decision records "<policy>@<version>"

    [[version]]                  # one entry per version, each a complete snapshot
    version = "2012.3"
    status = "in-force"          # or "pending": ratified, not operational, never chosen by date
    effective = 2012-07-31       # required when in force; the newest effective <= date is used
    document = "..."

    [version.intra]              # market transfers inside the registry, one entry per type
    ipv4 = { allowed = true, source = "NRPM 8.3" }      # ipv6 and asn alike, all three required
    [version.merger]             # mergers and acquisitions inside the registry, same shape
    [version.outbound]           # inter-RIR, this registry as source
    ipv4 = { to = ["ripencc", ...], source = "NRPM 8.4" }
    [version.inbound]            # inter-RIR, this registry as recipient
    ipv4 = { from = ["ripencc", ...], source = "NRPM 8.4" }

    [[version.min_size]]         # types, prefix, legs?, kinds?, source
    [[version.hold]]             # types, within?, subject?, after, months, legs?, kinds?,
                                 # exempt?, source
    [[version.origin]]           # types, allow | refuse, legs?, kinds?, source
    [[version.needs]]            # types, fields | any_of, legs?, kinds?, recipients?,
                                 # when_counterpart_requires?, source
    [[version.counterpart]]      # types, require, legs?, source

A rule applies on a *leg*: ``intra`` (source and recipient in this registry), ``outbound`` (this
registry is the source of an inter-RIR transfer) or ``inbound`` (it is the recipient). Holds and
origin rules bind the source side, needs the recipient side, counterpart rules both sides of an
inter-RIR transfer. ``kinds`` says which requests a rule binds (``transfer``, ``merger``); the
default is ``transfer`` because the policies exempt M&A unless they say otherwise.

Counterpart requirements are checked against the *other* registry's file, in its version in force
on the transfer date, so "ARIN requires a reciprocal partner" is decided by what the partner's
file allows, never by a list of partners kept in ARIN's file:

* ``reciprocal``: the partner allows this type both to and from us, and its transfers to us are
  not limited to some kinds of space (a partner that mostly takes space in is one-way);
* ``compatible``: the partner allows the opposite leg of this transfer with us;
* ``needs_based``: the partner, as recipient, applies a needs test to this type (only on the
  ``outbound`` leg). A needs rule with ``when_counterpart_requires = "needs_based"`` applies only
  when the other registry demands it (RIPE NCC's plan for transfers from needs-based RIRs).

Holding periods run in calendar months from the receipt date: a block received on 10 March 2024
under a 24-month hold may be transferred on 10 March 2026, not on 9 March. A minimum size of /24
means every CIDR block of the range is a /24 or larger (a 256-address range that straddles two
/24s is two /25s and is refused).
"""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from onereg.core.errors import OneregError, ResourceParseError, SourceFormatError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource

SCHEMA = 1
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


class TransferKind(StrEnum):
    """What the request asks for: a market transfer, or a change of holder by merger/acquisition."""

    TRANSFER = "transfer"
    MERGER = "merger"


class EventKind(StrEnum):
    """How a holder came to hold space; holding periods start at some kinds and not at others."""

    ALLOCATION = "allocation"  # allocated or assigned by the registry (or an NIR) from its pool
    WAITLIST = "waitlist"  # issued from ARIN's NRPM 4.1.8 waitlist
    TRANSFER = "transfer"  # a market transfer, within a registry or between registries
    MERGER = "merger"
    LEGACY = "legacy"  # held since before the registry system; starts no holding period


class Origin(StrEnum):
    """Where the block came from, for rules that let only some space leave a registry."""

    ISSUED = "issued"  # from the registry's ordinary pool
    LEGACY = "legacy"
    TRANSFERRED_IN = "transferred-in"  # arrived from another region by an inter-RIR transfer
    RESERVED = "reserved"  # from a pool reserved by policy (ARIN NRPM 4.4, 4.10, ...)


class Leg(StrEnum):
    """Which side of a transfer a rule binds: one registry sees a transfer as intra, outbound or
    inbound, and its policy says different things for each."""

    INTRA = "intra"
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Requirement(StrEnum):
    """What a registry demands of a partner's policy; checked on the partner's own file."""

    RECIPROCAL = "reciprocal"
    COMPATIBLE = "compatible"
    NEEDS_BASED = "needs_based"


class Status(StrEnum):
    """A ratified version that is not operational yet must be on file but never chosen by date."""

    IN_FORCE = "in-force"
    PENDING = "pending"


class Recipients(StrEnum):
    """Which recipients a needs rule binds: ARIN asks new and existing holders different things."""

    ANY = "any"
    NEW = "new"
    EXISTING = "existing"


class Subject(StrEnum):
    """Whose history a hold reads: this block's, or every receipt of the source holder's."""

    BLOCK = "block"
    HOLDER = "holder"


# Request flags a hold may name under `exempt` (ARIN 8.4 spares sources under common control).
EXEMPTIONS = frozenset({"common_control"})
_SOURCE_LEGS = frozenset({Leg.INTRA, Leg.OUTBOUND})
_RECIPIENT_LEGS = frozenset({Leg.INTRA, Leg.INBOUND})
_INTER_LEGS = frozenset({Leg.OUTBOUND, Leg.INBOUND})


class UnknownPolicyError(OneregError, LookupError):
    """A registry or pending version named by the caller is not in the loaded policy files."""


# --- the policy, as loaded ------------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    allowed: bool
    source: str


@dataclass(frozen=True)
class Route:
    registries: frozenset[RegistryId]
    source: str


@dataclass(frozen=True)
class MinSize:
    types: frozenset[Afi]
    prefix: int
    legs: frozenset[Leg]
    kinds: frozenset[TransferKind]
    source: str


@dataclass(frozen=True)
class Hold:
    types: frozenset[Afi]
    within: tuple[Resource, ...]
    subject: Subject
    after: frozenset[EventKind]
    months: int
    legs: frozenset[Leg]
    kinds: frozenset[TransferKind]
    exempt: frozenset[str]
    source: str


@dataclass(frozen=True)
class OriginRule:
    types: frozenset[Afi]
    allow: frozenset[Origin] | None
    refuse: frozenset[Origin]
    legs: frozenset[Leg]
    kinds: frozenset[TransferKind]
    source: str


@dataclass(frozen=True)
class Alternative:
    """One way to satisfy a needs rule: every field supplied, within the size limits."""

    fields: tuple[str, ...]
    source: str
    recipients: Recipients = Recipients.ANY
    max_prefix: int | None = None
    cap_field: str | None = None
    valid_months: int | None = None


@dataclass(frozen=True)
class Needs:
    types: frozenset[Afi]
    alternatives: tuple[Alternative, ...]
    legs: frozenset[Leg]
    kinds: frozenset[TransferKind]
    recipients: Recipients
    when_counterpart_requires: Requirement | None
    source: str


@dataclass(frozen=True)
class CounterpartRule:
    types: frozenset[Afi]
    require: tuple[Requirement, ...]
    legs: frozenset[Leg]
    source: str


@dataclass(frozen=True)
class PolicyVersion:
    registry: RegistryId
    policy: str
    version: str
    status: Status
    effective: date | None
    document: str
    intra: Mapping[Afi, Permission]
    merger: Mapping[Afi, Permission]
    outbound: Mapping[Afi, Route]
    inbound: Mapping[Afi, Route]
    min_size: tuple[MinSize, ...]
    holds: tuple[Hold, ...]
    origin: tuple[OriginRule, ...]
    needs: tuple[Needs, ...]
    counterpart: tuple[CounterpartRule, ...]

    @property
    def ref(self) -> str:
        """What a log entry records: which text decided."""
        return f"{self.policy}@{self.version}"


@dataclass(frozen=True)
class RegistryPolicy:
    registry: RegistryId
    policy: str
    path: str
    versions: tuple[PolicyVersion, ...]

    def in_force(self, on: date) -> PolicyVersion | None:
        """The newest in-force version whose effective date is on or before `on`."""
        best: PolicyVersion | None = None
        for version in self.versions:
            if version.status is not Status.IN_FORCE or version.effective is None:
                continue
            if version.effective <= on and (
                best is None or best.effective is None or version.effective > best.effective
            ):
                best = version
        return best


@dataclass(frozen=True)
class PolicySet:
    registries: Mapping[RegistryId, RegistryPolicy]

    @classmethod
    def load(cls, directory: Path | str) -> PolicySet:
        """Every ``*.toml`` in `directory`; a registry without a file has no policy in force."""
        found: dict[RegistryId, RegistryPolicy] = {}
        for path in sorted(Path(directory).glob("*.toml")):
            policy = load_policy_file(path)
            found[policy.registry] = policy
        return cls(found)

    def in_force(self, registry: RegistryId, on: date) -> PolicyVersion | None:
        policy = self.registries.get(registry)
        return policy.in_force(on) if policy is not None else None

    def activate(self, registry: RegistryId, version: str, effective: date) -> PolicySet:
        """A copy in which a pending version is in force from `effective`.

        For what-if questions ("once AFRINIC implements 2020-GEN-006, what can move?"); the files
        themselves keep such a version pending until the registry announces a date.
        """
        policy = self.registries.get(registry)
        if policy is None:
            raise UnknownPolicyError(f"no policy file for {registry}")
        versions = list(policy.versions)
        for i, candidate in enumerate(versions):
            if candidate.version == version and candidate.status is Status.PENDING:
                versions[i] = replace(candidate, status=Status.IN_FORCE, effective=effective)
                break
        else:
            raise UnknownPolicyError(f"{policy.path}: no pending version {version!r}")
        changed = dict(self.registries)
        changed[registry] = replace(policy, versions=tuple(versions))
        return PolicySet(changed)


def default_policy_dir() -> Path:
    """``policies/`` at the root of a source checkout (where the files are maintained)."""
    return Path(__file__).resolve().parents[3] / "policies"


# --- the request and the decision ------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """One time a holder received space: holding periods start at these."""

    kind: EventKind
    on: date


@dataclass(frozen=True, kw_only=True)
class TransferRequest:
    """Everything the rules read; nothing here is looked up, so evaluation stays pure.

    `received` is how and when the source holder got this block; `issued` is the registry's
    original issuance when an earlier event than `received` (APNIC's 103/8 hold and ARIN's
    waitlist hold run from issuance even after an M&A); `holder_receipts` are the source holder's
    other receipts of space (ARIN's 12-month rule reads any IPv4 the source received).
    `recipient_is_holder` says whether the recipient already holds space of this type in its
    registry (new and existing holders qualify differently).
    """

    resource: Resource
    source: RegistryId
    recipient: RegistryId
    on: date
    received: Receipt
    kind: TransferKind = TransferKind.TRANSFER
    issued: Receipt | None = None
    holder_receipts: tuple[Receipt, ...] = ()
    origin: Origin = Origin.ISSUED
    evidence: Mapping[str, object] = field(default_factory=dict)
    recipient_is_holder: bool = False
    common_control: bool = False

    @property
    def inter_rir(self) -> bool:
        return self.source is not self.recipient


@dataclass(frozen=True)
class Failure:
    """One rule that refused, with the registry, policy version and section that say so."""

    registry: RegistryId
    policy: str
    section: str
    rule: str
    reason: str
    missing: tuple[str, ...] = ()
    # For a needs rule: the field sets that would each satisfy it, in the policy's order, so
    # a client can ask for every missing field at once (not one refusal per rule).
    alternatives: tuple[tuple[str, ...], ...] = ()

    def __str__(self) -> str:
        return f"{self.registry.display_name} {self.policy} ({self.section}): {self.reason}"


@dataclass(frozen=True)
class Decision:
    """Every failing rule (not just the first) and the policy version each registry used."""

    failures: tuple[Failure, ...]
    versions: Mapping[RegistryId, str]

    @property
    def allowed(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(str(f) for f in self.failures)


# --- evaluation ------------------------------------------------------------------------------


def evaluate(request: TransferRequest, policies: PolicySet) -> Decision:
    """Judge `request` by the versions in force on its date: the source's side (intra-registry
    or outbound) and, between registries, the recipient's inbound side, each with its
    counterpart requirements read from the other registry's file."""
    failures: list[Failure] = []
    versions: dict[RegistryId, str] = {}
    source = _version_for(request.source, request.on, policies, versions, failures)
    if not request.inter_rir:
        if source is not None:
            _intra(source, request, failures)
        return Decision(tuple(failures), versions)
    recipient = _version_for(request.recipient, request.on, policies, versions, failures)
    if source is not None:
        if request.kind is TransferKind.MERGER:
            failures.append(
                _fail(
                    source,
                    source.merger[request.resource.afi].source,
                    "merger",
                    "M&A rules cover changes of holder inside the registry; between registries "
                    "the move is an inter-RIR transfer (kind 'transfer')",
                )
            )
        _outbound(source, request, recipient, failures)
    if recipient is not None:
        _inbound(recipient, request, source, failures)
    return Decision(tuple(failures), versions)


def _version_for(
    registry: RegistryId,
    on: date,
    policies: PolicySet,
    versions: dict[RegistryId, str],
    failures: list[Failure],
) -> PolicyVersion | None:
    policy = policies.registries.get(registry)
    version = policy.in_force(on) if policy is not None else None
    if version is not None:
        versions[registry] = version.ref
        return version
    if policy is None:
        failures.append(
            Failure(registry, "-", "no policy file", "no-policy", "no transfer policy is loaded")
        )
    else:
        dated = sorted(
            (v.effective, v.version)
            for v in policy.versions
            if v.status is Status.IN_FORCE and v.effective is not None
        )
        earliest = f"; the earliest starts {dated[0][0]} ({dated[0][1]})" if dated else ""
        failures.append(
            Failure(
                registry,
                policy.policy,
                policy.path,
                "no-policy",
                f"no version in force on {on}{earliest}",
            )
        )
    return None


def _fail(
    version: PolicyVersion,
    section: str,
    rule: str,
    reason: str,
    missing: tuple[str, ...] = (),
    alternatives: tuple[tuple[str, ...], ...] = (),
) -> Failure:
    return Failure(version.registry, version.ref, section, rule, reason, missing, alternatives)


def _intra(version: PolicyVersion, request: TransferRequest, failures: list[Failure]) -> None:
    afi = request.resource.afi
    if request.kind is TransferKind.MERGER:
        perm, what = version.merger[afi], "by merger or acquisition"
    else:
        perm, what = version.intra[afi], "by transfer"
    if not perm.allowed:
        failures.append(
            _fail(version, perm.source, request.kind.value, f"{afi} may not change holder {what}")
        )
    _source_side(version, Leg.INTRA, request, failures)
    _needs(version, Leg.INTRA, request, None, failures)


def _outbound(
    version: PolicyVersion,
    request: TransferRequest,
    other: PolicyVersion | None,
    failures: list[Failure],
) -> None:
    afi = request.resource.afi
    route = version.outbound[afi]
    if request.recipient not in route.registries:
        failures.append(
            _fail(
                version,
                route.source,
                "outbound",
                f"{afi} may not be transferred to {request.recipient.display_name}",
            )
        )
    _source_side(version, Leg.OUTBOUND, request, failures)
    _counterpart(version, Leg.OUTBOUND, request, other, failures)


def _inbound(
    version: PolicyVersion,
    request: TransferRequest,
    other: PolicyVersion | None,
    failures: list[Failure],
) -> None:
    afi = request.resource.afi
    route = version.inbound[afi]
    if request.source not in route.registries:
        failures.append(
            _fail(
                version,
                route.source,
                "inbound",
                f"{afi} may not be received from {request.source.display_name}",
            )
        )
    _min_size(version, Leg.INBOUND, request, failures)
    _needs(version, Leg.INBOUND, request, other, failures)
    _counterpart(version, Leg.INBOUND, request, other, failures)


def _source_side(
    version: PolicyVersion, leg: Leg, request: TransferRequest, failures: list[Failure]
) -> None:
    _min_size(version, leg, request, failures)
    for hold in version.holds:
        if _binds(hold.types, hold.legs, hold.kinds, leg, request, hold.within):
            _hold(version, hold, request, failures)
    for rule in version.origin:
        if _binds(rule.types, rule.legs, rule.kinds, leg, request):
            if rule.allow is not None and request.origin not in rule.allow:
                allowed = ", ".join(sorted(rule.allow))
                failures.append(
                    _fail(
                        version,
                        rule.source,
                        "origin",
                        f"only {allowed} space may move this way; this block is {request.origin}",
                    )
                )
            if request.origin in rule.refuse:
                failures.append(
                    _fail(
                        version,
                        rule.source,
                        "origin",
                        f"{request.origin} space is not eligible for transfer",
                    )
                )


def _binds(
    types: frozenset[Afi],
    legs: frozenset[Leg],
    kinds: frozenset[TransferKind],
    leg: Leg,
    request: TransferRequest,
    within: tuple[Resource, ...] = (),
) -> bool:
    resource = request.resource
    if resource.afi not in types or leg not in legs or request.kind not in kinds:
        return False
    scoped = [w for w in within if w.afi is resource.afi]
    return not scoped or any(w.overlaps(resource) for w in scoped)


def _min_size(
    version: PolicyVersion, leg: Leg, request: TransferRequest, failures: list[Failure]
) -> None:
    resource = request.resource
    for rule in version.min_size:
        if not _binds(rule.types, rule.legs, rule.kinds, leg, request):
            continue
        smallest = max(plen for _, plen in resource.cidrs())
        if smallest > rule.prefix:
            failures.append(
                _fail(
                    version,
                    rule.source,
                    "min-size",
                    f"the minimum transfer is a /{rule.prefix}; {resource} includes a /{smallest}",
                )
            )


def add_months(day: date, months: int) -> date:
    """`day` plus calendar months, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def _hold(
    version: PolicyVersion, hold: Hold, request: TransferRequest, failures: list[Failure]
) -> None:
    if hold.exempt & _flags(request):
        return
    if hold.subject is Subject.HOLDER:
        events = [request.received, *request.holder_receipts]
    else:
        events = [request.received] + ([request.issued] if request.issued is not None else [])
    running = [
        (add_months(e.on, hold.months), e)
        for e in events
        if e.kind in hold.after and request.on < add_months(e.on, hold.months)
    ]
    if not running:
        return
    until, event = max(running, key=lambda pair: pair[0])
    whose = "the source holder received space" if hold.subject is Subject.HOLDER else "received"
    failures.append(
        _fail(
            version,
            hold.source,
            "hold",
            f"{whose} {_HOW[event.kind]} on {event.on}: {hold.months}-month hold, no transfer "
            f"before {until} (requested for {request.on})",
        )
    )


_HOW = {
    EventKind.ALLOCATION: "by allocation",
    EventKind.WAITLIST: "from the waitlist",
    EventKind.TRANSFER: "by transfer",
    EventKind.MERGER: "by merger",
    EventKind.LEGACY: "as legacy space",
}


def _flags(request: TransferRequest) -> frozenset[str]:
    return frozenset({"common_control"}) if request.common_control else frozenset()


def _demands(version: PolicyVersion | None, requirement: Requirement, afi: Afi, leg: Leg) -> bool:
    """Whether `version` demands `requirement` of its partners on `leg` for `afi`."""
    if version is None:
        return False
    return any(
        requirement in rule.require and afi in rule.types and leg in rule.legs
        for rule in version.counterpart
    )


def _needs_applies(
    rule: Needs, leg: Leg, request: TransferRequest, other: PolicyVersion | None
) -> bool:
    if not _binds(rule.types, rule.legs, rule.kinds, leg, request):
        return False
    if not _recipient_matches(rule.recipients, request):
        return False
    if rule.when_counterpart_requires is not None:
        # The other registry is the source; it states its demands on its outbound leg.
        return _demands(other, rule.when_counterpart_requires, request.resource.afi, Leg.OUTBOUND)
    return True


def _recipient_matches(recipients: Recipients, request: TransferRequest) -> bool:
    if recipients is Recipients.NEW:
        return not request.recipient_is_holder
    if recipients is Recipients.EXISTING:
        return request.recipient_is_holder
    return True


def _supplied(value: object) -> bool:
    return value is not None and value is not False and value != ""


def _alternative_problems(alt: Alternative, request: TransferRequest) -> tuple[list[str], str]:
    """The fields `alt` still lacks, and what else keeps it from applying ("" if nothing)."""
    evidence = request.evidence
    missing = [name for name in alt.fields if not _supplied(evidence.get(name))]
    resource = request.resource
    if alt.max_prefix is not None and resource.size > 1 << (resource.afi.bits - alt.max_prefix):
        return missing, f"allows at most a /{alt.max_prefix}"
    if alt.cap_field is not None and alt.cap_field not in missing:
        cap = evidence.get(alt.cap_field)
        if not isinstance(cap, int) or isinstance(cap, bool):
            return missing, f"{alt.cap_field} must be a number of addresses"
        if resource.size > cap:
            return missing, f"allows at most {alt.cap_field} ({cap}) addresses"
    if alt.valid_months is not None:
        for name in alt.fields:
            value = evidence.get(name)
            if name in missing:
                continue
            try:
                value = evidence_date(name, value)
            except EvidenceError as exc:
                return missing, str(exc)
            if value > request.on or add_months(value, alt.valid_months) <= request.on:
                return missing, f"{name} {value} is not within {alt.valid_months} months"
    return missing, ""


class EvidenceError(OneregError, ValueError):
    """An evidence field's value is not of the form its rule reads (a date, a number)."""


def evidence_date(name: str, value: object) -> date:
    """A date field of the evidence: an ISO 8601 date string ("2026-03-01", the JSON form, as
    the log records it) or a `date` (TOML, Python callers). A date-time is refused: a policy's
    validity runs in calendar days, and a time would hide which day was meant."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise EvidenceError(
                f"evidence field {name!r}: {value!r} is not a date ({exc}); "
                "give an ISO 8601 date, YYYY-MM-DD"
            ) from None
    raise EvidenceError(
        f"evidence field {name!r}: {value!r} is not a date; give an ISO 8601 date, YYYY-MM-DD"
    )


def evidence_forms(policies: PolicySet) -> dict[str, str]:
    """The form of every evidence field any version of any policy reads that is not a plain
    statement (true): "date" for fields with a validity period, "addresses" for caps."""
    forms: dict[str, str] = {}
    for policy in policies.registries.values():
        for version in policy.versions:
            for rule in version.needs:
                for alt in rule.alternatives:
                    if alt.valid_months is not None:
                        forms.update(dict.fromkeys(alt.fields, "date"))
                    if alt.cap_field is not None:
                        forms[alt.cap_field] = "addresses"
    return forms


def check_evidence(evidence: Mapping[str, object], policies: PolicySet) -> None:
    """Refuse evidence whose dates or numbers of addresses are malformed, naming the field and
    its value, before anything is sent or written (`evaluate` would only call it unmet)."""
    problems: list[str] = []
    for name, form in sorted(evidence_forms(policies).items()):
        value = evidence.get(name)
        if value is None or value is False:
            continue  # not supplied: the policy check says whether it is needed
        if form == "date":
            try:
                evidence_date(name, value)
            except EvidenceError as exc:
                problems.append(str(exc))
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(
                f"evidence field {name!r}: {value!r} is not a number of addresses "
                "(a whole number, e.g. 8192)"
            )
    if problems:
        raise EvidenceError("; ".join(problems))


def _needs(
    version: PolicyVersion,
    leg: Leg,
    request: TransferRequest,
    other: PolicyVersion | None,
    failures: list[Failure],
) -> None:
    for rule in version.needs:
        if not _needs_applies(rule, leg, request, other):
            continue
        options: list[str] = []
        missing: list[str] = []
        ways: list[tuple[str, ...]] = []
        satisfied = False
        for alt in rule.alternatives:
            if not _recipient_matches(alt.recipients, request):
                continue
            ways.append(alt.fields)
            lacking, problem = _alternative_problems(alt, request)
            if not lacking and not problem:
                satisfied = True
                break
            missing.extend(name for name in lacking if name not in missing)
            detail = " + ".join(alt.fields)
            notes = [f"missing {', '.join(lacking)}"] if lacking else []
            if problem:
                notes.append(problem)
            options.append(f"{detail} ({alt.source}: {'; '.join(notes)})")
        if satisfied:
            continue
        if not options:
            reason = "no way to demonstrate need applies to this recipient"
        elif len(options) == 1:
            reason = f"needs evidence not met: {options[0]}"
        else:
            reason = "needs evidence not met; supply one of: " + " | ".join(options)
        failures.append(
            _fail(version, rule.source, "needs", reason, tuple(missing), tuple(ways))
        )


def _counterpart(
    version: PolicyVersion,
    leg: Leg,
    request: TransferRequest,
    other: PolicyVersion | None,
    failures: list[Failure],
) -> None:
    if other is None:
        return  # the other side's "no policy" failure already says why
    afi = request.resource.afi
    for rule in version.counterpart:
        if afi not in rule.types or leg not in rule.legs:
            continue
        for requirement in rule.require:
            problem = _requirement_problem(requirement, version, other, afi, leg)
            if problem:
                failures.append(
                    _fail(
                        version,
                        rule.source,
                        "counterpart",
                        f"{other.registry.display_name} policy {other.ref} is not "
                        f"{requirement.value.replace('_', '-')} for {afi}: {problem}",
                    )
                )


def _one_way(other: PolicyVersion, afi: Afi) -> frozenset[Origin] | None:
    """The kinds of space `other` lets leave, when it limits them (None: any space)."""
    for rule in other.origin:
        if rule.allow is not None and afi in rule.types and Leg.OUTBOUND in rule.legs:
            return rule.allow
    return None


def _requirement_problem(
    requirement: Requirement, us: PolicyVersion, other: PolicyVersion, afi: Afi, leg: Leg
) -> str:
    me = us.registry
    name = me.display_name
    sends = me in other.outbound[afi].registries
    takes = me in other.inbound[afi].registries
    if requirement is Requirement.RECIPROCAL:
        problems = []
        if not sends:
            problems.append(f"it allows no {afi} transfers to {name}")
        else:
            limited = _one_way(other, afi)
            if limited is not None:
                kinds = ", ".join(sorted(limited))
                problems.append(f"its {afi} transfers out are limited to {kinds} space")
        if not takes:
            problems.append(f"it accepts no {afi} transfers from {name}")
        return "; ".join(problems)
    if requirement is Requirement.COMPATIBLE:
        if leg is Leg.OUTBOUND and not takes:
            return f"it accepts no {afi} transfers from {name}"
        if leg is Leg.INBOUND and not sends:
            return f"it allows no {afi} transfers to {name}"
        return ""
    # NEEDS_BASED: the partner is the recipient and must test its recipient's need.
    for rule in other.needs:
        if afi not in rule.types or Leg.INBOUND not in rule.legs:
            continue
        if TransferKind.TRANSFER not in rule.kinds:
            continue
        if rule.when_counterpart_requires is None or _demands(
            us, rule.when_counterpart_requires, afi, Leg.OUTBOUND
        ):
            return ""
    return f"it applies no needs test to {afi} recipients of transfers from {name}"


# --- loading and validation ------------------------------------------------------------------

_LINE_RE = re.compile(r"at line (\d+)")
_TYPES = {"ipv4": Afi.IPV4, "ipv6": Afi.IPV6, "asn": Afi.ASN}
_TOP_KEYS = {"schema", "registry", "policy", "version"}
_VERSION_KEYS = {
    "version",
    "status",
    "effective",
    "document",
    "intra",
    "merger",
    "outbound",
    "inbound",
    "min_size",
    "hold",
    "origin",
    "needs",
    "counterpart",
}


class _Node:
    """A TOML table with its dotted path, so every error names the file, the key and the value."""

    def __init__(self, path: str, data: Mapping[str, Any], where: str) -> None:
        self.path = path
        self.data = data
        self.where = where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, reason: str, value: object = None) -> SourceFormatError:
        shown = "" if value is None else _show(value)
        return SourceFormatError(self.path, None, reason, self.key(name), shown)

    def only(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for name, value in self.data.items():
            if name not in allowed:
                raise self.error(name, f"unknown key (expected one of {sorted(allowed)})", value)

    def get(self, name: str, kind: type[T], what: str, default: T | None = None) -> T:
        if name not in self.data:
            if default is not None:
                return default
            raise self.error(name, "missing key")
        value = self.data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(name, f"must be {what}", value)
        return value

    def text(self, name: str) -> str:
        value = self.get(name, str, "a string")
        if not value.strip():
            raise self.error(name, "must not be empty", value)
        return value

    def number(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self.get(name, int, "an integer", default)
        if not low <= value <= high:
            raise self.error(name, f"must be between {low} and {high}", value)
        return value

    def day(self, name: str) -> date:
        value = self.get(name, date, "a TOML date (YYYY-MM-DD)")
        if isinstance(value, datetime):
            raise self.error(name, "must be a date without a time", value)
        return value

    def table(self, name: str) -> _Node:
        return _Node(self.path, self.get(name, dict, "a table"), self.key(name))

    def tables(self, name: str) -> list[_Node]:
        items = self.get(name, list, "an array of tables", [])
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", "must be a table", item)
            out.append(_Node(self.path, item, f"{self.key(name)}[{i}]"))
        return out

    def words(self, name: str, default: list[str] | None = None) -> list[str]:
        items = self.get(name, list, "an array of strings", default)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", "must be a string", item)
        return list(items)

    def choice(self, name: str, enum: type[E], default: E | None = None) -> E:
        if name not in self.data and default is not None:
            return default
        value = self.text(name)
        try:
            return enum(value)
        except ValueError:
            raise self.error(name, f"must be one of {[e.value for e in enum]}", value) from None

    def choices(
        self, name: str, convert: Callable[[str], T], what: str, default: list[str] | None = None
    ) -> frozenset[T]:
        out = set()
        for i, word in enumerate(self.words(name, default)):
            try:
                out.add(convert(word))
            except (ValueError, KeyError):
                raise self.error(f"{name}[{i}]", f"must be {what}", word) from None
        return frozenset(out)

    def types(self, name: str = "types") -> frozenset[Afi]:
        found = self.choices(name, _TYPES.__getitem__, "one of ipv4, ipv6, asn")
        if not found:
            raise self.error(name, "must name at least one type", [])
        return found

    def legs(self, allowed: frozenset[Leg], default: frozenset[Leg]) -> frozenset[Leg]:
        if "legs" not in self.data:
            return default
        names = sorted(leg.value for leg in allowed)
        found = self.choices("legs", Leg, f"one of {names}")
        if not found or not found <= allowed:
            raise self.error("legs", f"must be among {names}", self.data["legs"])
        return found

    def kinds(self) -> frozenset[TransferKind]:
        if "kinds" not in self.data:
            return frozenset({TransferKind.TRANSFER})
        found = self.choices("kinds", TransferKind, "transfer or merger")
        if not found:
            raise self.error("kinds", "must name at least one kind", [])
        return found


def _show(value: object) -> str:
    if isinstance(value, str):
        return value
    return repr(value)


def load_policy_file(path: Path | str) -> RegistryPolicy:
    """Read and validate one registry's policy file; any defect raises SourceFormatError."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SourceFormatError(name, None, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SourceFormatError(name, None, f"not UTF-8: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise SourceFormatError(name, None, "malformed TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        found = _LINE_RE.search(str(exc))
        line = int(found.group(1)) if found else None
        lines = raw.decode("utf-8").splitlines()
        text = lines[line - 1] if line is not None and 0 < line <= len(lines) else None
        field_name = "line" if text is not None else None
        raise SourceFormatError(name, line, f"malformed TOML: {exc}", field_name, text) from None
    top = _Node(name, data, "")
    top.only(_TOP_KEYS)
    schema = top.number("schema", 0, 1_000)
    if schema != SCHEMA:
        raise top.error("schema", f"unsupported schema (this code reads {SCHEMA})", schema)
    registry = top.choice("registry", RegistryId)
    if Path(path).stem != registry.value:
        raise top.error("registry", f"does not match the file name {Path(path).name}", registry)
    policy = top.text("policy")
    nodes = top.tables("version")
    if not nodes:
        raise top.error("version", "at least one [[version]] is required")
    versions = [_version(node, registry, policy) for node in nodes]
    labels: set[str] = set()
    dates: set[date] = set()
    for node, version in zip(nodes, versions, strict=True):
        if version.version in labels:
            raise node.error("version", "duplicate version label", version.version)
        labels.add(version.version)
        if version.status is Status.IN_FORCE and version.effective is not None:
            if version.effective in dates:
                raise node.error(
                    "effective", "two versions in force from one date", version.effective
                )
            dates.add(version.effective)
    return RegistryPolicy(registry, policy, name, tuple(versions))


def _version(node: _Node, registry: RegistryId, policy: str) -> PolicyVersion:
    label = node.text("version")
    node = _Node(node.path, node.data, f"version[{label}]")
    node.only(_VERSION_KEYS)
    status = node.choice("status", Status, Status.IN_FORCE)
    effective = (
        node.day("effective") if status is Status.IN_FORCE or "effective" in node.data else None
    )
    return PolicyVersion(
        registry=registry,
        policy=policy,
        version=label,
        status=status,
        effective=effective,
        document=node.text("document"),
        intra=_permissions(node.table("intra")),
        merger=_permissions(node.table("merger")),
        outbound=_routes(node.table("outbound"), "to", registry),
        inbound=_routes(node.table("inbound"), "from", registry),
        min_size=tuple(_min_size_rule(n) for n in node.tables("min_size")),
        holds=tuple(_hold_rule(n) for n in node.tables("hold")),
        origin=tuple(_origin_rule(n) for n in node.tables("origin")),
        needs=tuple(_needs_rule(n) for n in node.tables("needs")),
        counterpart=tuple(_counterpart_rule(n) for n in node.tables("counterpart")),
    )


def _per_type(node: _Node) -> dict[Afi, _Node]:
    """One entry per resource type, all three present: every cell of the matrix has a source."""
    node.only(_TYPES)
    return {afi: node.table(name) for name, afi in _TYPES.items()}


def _permissions(node: _Node) -> dict[Afi, Permission]:
    out = {}
    for afi, entry in _per_type(node).items():
        entry.only({"allowed", "source"})
        out[afi] = Permission(entry.get("allowed", bool, "true or false"), entry.text("source"))
    return out


def _routes(node: _Node, key: str, own: RegistryId) -> dict[Afi, Route]:
    out = {}
    for afi, entry in _per_type(node).items():
        entry.only({key, "source"})
        registries = entry.choices(key, RegistryId, "a registry id", None)
        if own in registries:
            raise entry.error(key, "lists the registry itself (that is an intra transfer)", own)
        out[afi] = Route(registries, entry.text("source"))
    return out


def _min_size_rule(node: _Node) -> MinSize:
    node.only({"types", "prefix", "legs", "kinds", "source"})
    types = node.types()
    return MinSize(
        types=types,
        prefix=node.number("prefix", 0, _single_ip_family(node, "types", types).bits),
        legs=node.legs(frozenset(Leg), frozenset(Leg)),
        kinds=node.kinds(),
        source=node.text("source"),
    )


def _single_ip_family(node: _Node, key: str, types: frozenset[Afi]) -> Afi:
    """The one address family a prefix length is measured in (a /24 means nothing for ASNs)."""
    if len(types) != 1 or Afi.ASN in types:
        shown = sorted(t.value for t in types)
        raise node.error(key, "a prefix length needs exactly one of ipv4, ipv6 as types", shown)
    return next(iter(types))


def _hold_rule(node: _Node) -> Hold:
    node.only(
        {"types", "within", "subject", "after", "months", "legs", "kinds", "exempt", "source"}
    )
    within = []
    for i, text in enumerate(node.words("within", [])):
        try:
            within.append(Resource.parse(text))
        except ResourceParseError as exc:
            raise node.error(f"within[{i}]", exc.reason, text) from None
    after = node.choices("after", EventKind, f"one of {[e.value for e in EventKind]}")
    if not after:
        raise node.error("after", "must name at least one event kind", [])
    return Hold(
        types=node.types(),
        within=tuple(within),
        subject=node.choice("subject", Subject, Subject.BLOCK),
        after=after,
        months=node.number("months", 1, 1200),
        legs=node.legs(_SOURCE_LEGS, _SOURCE_LEGS),
        kinds=node.kinds(),
        exempt=node.choices("exempt", _exemption, f"one of {sorted(EXEMPTIONS)}", []),
        source=node.text("source"),
    )


def _exemption(word: str) -> str:
    if word not in EXEMPTIONS:
        raise ValueError(word)
    return word


def _origin_rule(node: _Node) -> OriginRule:
    node.only({"types", "allow", "refuse", "legs", "kinds", "source"})
    what = f"one of {[o.value for o in Origin]}"
    allow = node.choices("allow", Origin, what) if "allow" in node.data else None
    refuse = node.choices("refuse", Origin, what, [])
    if allow is None and not refuse:
        raise node.error("allow", "an origin rule needs allow or refuse")
    return OriginRule(
        types=node.types(),
        allow=allow,
        refuse=refuse,
        legs=node.legs(_SOURCE_LEGS, _SOURCE_LEGS),
        kinds=node.kinds(),
        source=node.text("source"),
    )


def _needs_rule(node: _Node) -> Needs:
    node.only(
        {
            "types",
            "fields",
            "any_of",
            "legs",
            "kinds",
            "recipients",
            "when_counterpart_requires",
            "source",
        }
    )
    source = node.text("source")
    types = node.types()
    if ("fields" in node.data) == ("any_of" in node.data):
        raise node.error("fields", "a needs rule has exactly one of fields and any_of")
    if "fields" in node.data:
        alternatives: tuple[Alternative, ...] = (Alternative(_fields(node), source),)
    else:
        items = node.tables("any_of")
        if not items:
            raise node.error("any_of", "must list at least one alternative", [])
        alternatives = tuple(_alternative(item, types) for item in items)
    when = None
    if "when_counterpart_requires" in node.data:
        when = node.choice("when_counterpart_requires", Requirement)
    return Needs(
        types=types,
        alternatives=alternatives,
        legs=node.legs(_RECIPIENT_LEGS, _RECIPIENT_LEGS),
        kinds=node.kinds(),
        recipients=node.choice("recipients", Recipients, Recipients.ANY),
        when_counterpart_requires=when,
        source=source,
    )


def _fields(node: _Node) -> tuple[str, ...]:
    names = node.words("fields")
    if not names:
        raise node.error("fields", "must name at least one evidence field", [])
    return tuple(names)


def _alternative(node: _Node, types: frozenset[Afi]) -> Alternative:
    node.only({"fields", "source", "recipients", "max_prefix", "cap_field", "valid_months"})
    fields = _fields(node)
    max_prefix = None
    if "max_prefix" in node.data:
        family = _single_ip_family(node, "max_prefix", types)
        max_prefix = node.number("max_prefix", 0, family.bits)
    cap = node.text("cap_field") if "cap_field" in node.data else None
    if cap is not None and cap not in fields:
        raise node.error("cap_field", "must be one of the alternative's fields", cap)
    valid = node.number("valid_months", 1, 1200) if "valid_months" in node.data else None
    return Alternative(
        fields=fields,
        source=node.text("source"),
        recipients=node.choice("recipients", Recipients, Recipients.ANY),
        max_prefix=max_prefix,
        cap_field=cap,
        valid_months=valid,
    )


def _counterpart_rule(node: _Node) -> CounterpartRule:
    node.only({"types", "require", "legs", "source"})
    require = node.choices("require", Requirement, f"one of {[r.value for r in Requirement]}")
    if not require:
        raise node.error("require", "must name at least one requirement", [])
    legs = node.legs(_INTER_LEGS, _INTER_LEGS)
    if Requirement.NEEDS_BASED in require and legs != {Leg.OUTBOUND}:
        shown = sorted(leg.value for leg in legs)
        raise node.error("legs", "needs_based is checked on the outbound leg only", shown)
    return CounterpartRule(
        types=node.types(),
        require=tuple(sorted(require)),
        legs=legs,
        source=node.text("source"),
    )
