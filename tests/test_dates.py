"""registry.dates: the registration and last-change dates every face shows, from one node's log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.registry import dates
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode


def _row(start: str, date: str, holder: str | None = "H1", **extra: Any) -> ev.Payload:
    return {
        "afi": "ipv4",
        "start": start,
        "value": 256,
        "cc": "NL",
        "date": date,
        "status": "allocated",
        "holder": holder,
        "opaque": holder,
        "ext": [],
        **extra,
    }


def _time(node: RegistryNode, seq: int) -> str:
    return str(node.conn.execute("SELECT time FROM log WHERE seq = ?", (seq,)).fetchone()[0])


def _dates_of(node: RegistryNode, address: str) -> dates.RecordDates:
    d = node.containing(Resource.parse(address))
    assert d is not None
    return dates.record_dates(node, d.seq, d.date, d.attrs)


def test_each_kind_of_entry_dates_a_record_by_the_rule(tmp_path: Path) -> None:
    with RegistryNode.open(RegistryId.RIPENCC, tmp_path / "n.sqlite") as node:
        node.append([(ev.HOLDER_REGISTERED, {"handle": "H1", "name": "", "cc": "NL"})])
        node.append(
            [(ev.DELEGATION_ADDED, _row(f"10.0.{i}.0", f"2001010{i + 1}")) for i in range(3)],
            batch=True,
        )
        single = node.append([(ev.DELEGATION_ADDED, _row("10.1.0.0", "20050505"))])[0].seq
        unknown = node.append([(ev.DELEGATION_ADDED, _row("10.2.0.0", "00000000"))])[0].seq
        moved = {"received_by": "transfer", "transfer": "ab" * 16}
        came = node.append([(ev.DELEGATION_ADDED, _row("10.3.0.0", "20100101", attrs=moved))])
        changed = node.append([(ev.DELEGATION_CHANGED, _row("10.0.1.0", "20010102", cc="DE"))])

        # added by a batch or alone, not changed since: the registration date, twice
        assert _dates_of(node, "10.0.0.1") == dates.RecordDates(*["2001-01-01T00:00:00Z"] * 2)
        assert _dates_of(node, "10.1.0.1").last_changed == "2005-05-05T00:00:00Z"
        assert _dates_of(node, "10.1.0.1").last_changed != _time(node, single)
        # changed by a later entry: that entry's time; the registration stays
        assert _dates_of(node, "10.0.1.1") == dates.RecordDates(
            "2001-01-02T00:00:00Z", _time(node, changed[0].seq)
        )
        # no registration date: the log time of the entry, and no registration
        assert _dates_of(node, "10.2.0.1") == dates.RecordDates(None, _time(node, unknown))
        # came by transfer: changed when it was added
        assert _dates_of(node, "10.3.0.1").last_changed == _time(node, came[0].seq)

        # a holder: its earliest record's registration, until a holder.changed entry
        info = node.holder("H1")
        assert info is not None
        assert dates.holder_dates(node, "H1", info["seq"]) == dates.RecordDates(
            *["2001-01-01T00:00:00Z"] * 2
        )
        renamed = node.append([(ev.HOLDER_CHANGED, {"handle": "H1", "name": "X", "cc": "NL"})])
        info = node.holder("H1")
        assert info is not None and info["seq"] == renamed[0].seq
        assert dates.holder_dates(node, "H1", info["seq"]).last_changed == _time(
            node, renamed[0].seq
        )
        # a holder with no dated record: the log time
        node.append([(ev.HOLDER_REGISTERED, {"handle": "H2", "name": "", "cc": "NL"})])
        info = node.holder("H2")
        assert info is not None
        assert dates.holder_dates(node, "H2", info["seq"]) == dates.RecordDates(
            None, _time(node, info["seq"])
        )


def test_a_batch_kind_is_read_from_its_tail_only_when_well_formed() -> None:
    assert dates._batch_kind(b'...,"kind":"delegation.added"}') == ev.DELEGATION_ADDED
    assert dates._batch_kind('...,"kind":"holder.registered"}') == ev.HOLDER_REGISTERED
    assert dates._batch_kind(b'"kind":"delegation.added"') is None  # cut off
    assert dates._batch_kind(b"garbage") is None
    assert dates._batch_kind(None) is None
    assert dates.registration_date("2018101") is None
    assert dates.registration_date("2018-10-13") is None
