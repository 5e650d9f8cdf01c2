"""The core's small pieces an operator sees: error messages that name what and where, registry
names and statuses, and the collector pause that must leave the collector as it found it."""

from __future__ import annotations

import gc

import pytest

from onereg.core.errors import (
    OneregError,
    OverlapError,
    ResourceParseError,
    SignatureError,
    SourceFormatError,
    UnknownKeyError,
)
from onereg.core.gc import collector_paused
from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId, Status, holder_label


def test_resource_parse_error_names_the_text_and_the_reason() -> None:
    err = ResourceParseError("10.0.0.0/33", "prefix length out of 0..32")
    assert str(err) == "cannot read resource '10.0.0.0/33': prefix length out of 0..32"
    assert (err.text, err.reason) == ("10.0.0.0/33", "prefix length out of 0..32")
    assert isinstance(err, ValueError) and isinstance(err, OneregError)


def test_source_format_error_names_file_line_field_and_value() -> None:
    err = SourceFormatError("delegated-x", 12, "bad count", "value", "abc")
    assert str(err) == "delegated-x:12: bad count (field value='abc')"
    assert (err.path, err.line, err.field, err.value, err.reason) == (
        "delegated-x",
        12,
        "value",
        "abc",
        "bad count",
    )


def test_source_format_error_without_line_or_field() -> None:
    assert str(SourceFormatError("f.xml", None, "not XML")) == "f.xml: not XML"
    assert str(SourceFormatError("f", 0, "empty")) == "f:0: empty"
    assert str(SourceFormatError("f", 3, "bad", "cc", None)) == "f:3: bad (field cc=None)"


def test_overlap_error_names_both_records() -> None:
    err = OverlapError("A 10.0.0.0/24", "B 10.0.0.128/25")
    assert str(err) == "overlap refused: A 10.0.0.0/24 overlaps B 10.0.0.128/25"
    assert (err.first, err.second) == ("A 10.0.0.0/24", "B 10.0.0.128/25")


def test_signature_errors_keep_the_key() -> None:
    err = UnknownKeyError("no known signer", "log+abcd1234")
    assert str(err) == "no known signer" and err.key == "log+abcd1234"
    assert isinstance(err, SignatureError)
    assert SignatureError("x").key is None


def test_collector_paused_disables_and_restores() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_paused_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_collector_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_registry_display_names() -> None:
    assert [r.display_name for r in ALL_REGISTRIES] == [
        "IANA",
        "AFRINIC",
        "APNIC",
        "ARIN",
        "LACNIC",
        "RIPE NCC",
    ]
    assert RegistryId.IANA not in RIRS and len(RIRS) == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RIPE NCC", RegistryId.RIPENCC),
        ("Administered by ARIN", RegistryId.ARIN),
        ("afrinic", RegistryId.AFRINIC),
        ("APNIC", RegistryId.APNIC),
        ("LACNIC", RegistryId.LACNIC),
        ("IANA", None),  # IANA is never an RIR designation
        ("Reserved", None),
    ],
)
def test_registry_from_designation(text: str, expected: RegistryId | None) -> None:
    assert RegistryId.from_designation(text) is expected


def test_only_allocated_and_assigned_are_held() -> None:
    assert [s.value for s in Status if s.is_held] == ["allocated", "assigned"]


@pytest.mark.parametrize(
    ("holder", "status", "expected"),
    [
        ("ORG-1", "allocated", "ORG-1"),
        ("ORG-1", "available", "ORG-1"),
        (None, "available", "registry pool"),
        ("", "reserved", "registry pool"),
        (None, "assigned", "holder not published"),
        (None, "allocated", "holder not published"),
    ],
)
def test_holder_label(holder: str | None, status: str, expected: str) -> None:
    assert holder_label(holder, status) == expected
