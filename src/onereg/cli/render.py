"""Tables for people: the audit summary, import outcomes and lookups, rendered with rich."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onereg.core.registries import holder_label

if TYPE_CHECKING:  # `onereg show` imports this module: only what printing a lookup needs
    from rich.console import Console
    from rich.table import Table

    from onereg.audit.findings import AuditReport
    from onereg.federation.importer import ImportOutcome
    from onereg.federation.lookup import LookupResult


def _num(value: int) -> str:
    return f"{value:,}"


def imports_table(outcomes: list[ImportOutcome]) -> Table:
    from rich.table import Table

    table = Table(title="Import", title_justify="left")
    for col in (
        "registry",
        "records",
        "log entries",
        "added",
        "changed",
        "removed",
        "holders added",
        "cross-registry",
        "source",
    ):
        table.add_column(col, justify="left" if col in ("registry", "source") else "right")
    for o in outcomes:
        note = "unchanged (already imported)" if o.unchanged else o.source
        table.add_row(
            o.registry.value,
            _num(o.records),
            _num(o.entries),
            _num(o.added),
            _num(o.changed),
            _num(o.removed),
            _num(o.holders_added),
            _num(o.cross_holdings),
            note,
        )
    return table


def _ipv6_slash32(size: int) -> str:
    return f"{size / 2**96:,.1f}"


def summary_table(report: AuditReport) -> Table:
    from rich.table import Table

    table = Table(title="Registries", title_justify="left")
    for col in (
        "registry",
        "as of",
        "records",
        "asn",
        "ipv4",
        "ipv6",
        "holders",
        "IPv4 allocated",
        "IPv4 assigned",
        "IPv4 available",
        "IPv4 reserved",
        "IPv6 held (/32s)",
        "ASNs held",
    ):
        table.add_column(col, justify="left" if col in ("registry", "as of") else "right")
    for s in report.summaries:
        v4, v6, asn = (s.totals.get(a, {}) for a in ("ipv4", "ipv6", "asn"))
        table.add_row(
            s.registry,
            s.as_of,
            _num(s.records),
            _num(s.by_type.get("asn", 0)),
            _num(s.by_type.get("ipv4", 0)),
            _num(s.by_type.get("ipv6", 0)),
            _num(s.holders),
            _num(v4.get("allocated", 0)),
            _num(v4.get("assigned", 0)),
            _num(v4.get("available", 0)),
            _num(v4.get("reserved", 0)),
            _ipv6_slash32(v6.get("allocated", 0) + v6.get("assigned", 0)),
            _num(asn.get("allocated", 0) + asn.get("assigned", 0)),
        )
    return table


def findings_table(report: AuditReport) -> Table:
    from rich.table import Table

    table = Table(title="Uniqueness and authority", title_justify="left")
    for col in (
        "registry",
        "overlaps",
        "cross-registry: erx",
        "legacy",
        "inter-rir",
        "unrecorded",
        "overclaimed",
        "unclaimed",
        "unclaimed newer than file",
    ):
        table.add_column(col, justify="left" if col == "registry" else "right")
    for s in report.summaries:
        newer = sum(1 for u in report.unclaimed if u.registry == s.registry and u.newer_than_file)
        table.add_row(
            s.registry,
            _num(s.conflicts),
            _num(s.cross_by_origin.get("erx", 0)),
            _num(s.cross_by_origin.get("legacy", 0)),
            _num(s.cross_by_origin.get("inter-rir", 0)),
            _num(s.unrecorded_cross),
            _num(s.overclaimed),
            _num(s.unclaimed),
            _num(newer),
        )
    return table


def conflicts_table(report: AuditReport, limit: int) -> Table:
    from rich.table import Table

    table = Table(
        title=f"Conflicts ({len(report.conflicts)}): one resource, two holders",
        title_justify="left",
    )
    for col in ("overlap", "size", "first record", "second record"):
        table.add_column(col)
    for c in report.conflicts[:limit]:
        table.add_row(c.overlap, _num(c.size), c.first, c.second)
    return table


def print_audit(console: Console, report: AuditReport, limit: int) -> None:
    console.print(summary_table(report))
    console.print(findings_table(report))
    if report.conflicts:
        console.print(conflicts_table(report, limit))
        if len(report.conflicts) > limit:
            console.print(f"... {len(report.conflicts) - limit} more (use --limit or --json)")
    for o in report.overclaimed[:limit]:
        console.print(f"overclaimed: {o.registry} lists {o.range} inside {o.iana_block}")
    for sp in report.special_purpose[:limit]:
        tag = "accepted by the NRO allow-list" if sp.allowed else "NOT on the NRO allow-list"
        console.print(f"special-purpose: {sp.record} on {sp.special} ({tag})")
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    verdict = (
        "[green]no resource has two holders[/green]"
        if report.ok
        else f"[red]{len(report.conflicts)} uniqueness conflicts[/red]"
    )
    console.print(f"verdict: {verdict}")


def print_lookup(console: Console, result: LookupResult) -> None:
    console.print(f"[bold]{result.resource}[/bold]")
    for d in result.iana:
        attrs = d.attrs or {}
        to = d.holder or "nobody (IANA pool)"
        console.print(
            f"  IANA      {d.resource}  {d.status} to {to}  "
            f"({attrs.get('iana_status', '')}, {attrs.get('designation', '')}, "
            f"{d.date or 'undated'}; {attrs.get('source', '')})"
        )
    for text, name, attrs in result.special:
        console.print(f"  special   {text}  {name} ({attrs.get('rfc', '')}): special-purpose space")
    for d in result.records:
        who = f"holder {d.holder}" if d.holder else holder_label(None, d.status)
        console.print(
            f"  {d.registry.display_name:<9} {d.resource}  {d.status} {d.date or '-'} "
            f"{d.cc or '--'}  {who}  (log entry {d.seq})"
        )
    for rid, text, authority, origin in result.cross:
        console.print(f"  cross     {rid} holds {text} in {authority}'s block (origin: {origin})")
    for h in result.holders:
        shown = ", ".join(h.resources[:8]) + (" ..." if len(h.resources) > 8 else "")
        name = h.name or "(name not published in delegated files)"
        console.print(
            f"  holder    {h.handle} @ {h.registry}  {name}  cc {h.cc}  "
            f"{len(h.resources)} resources: {shown}"
        )
    if not result.records:
        console.print("  no registry lists this resource")
