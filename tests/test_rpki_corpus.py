"""Our relying party is never laxer than the real ones (issue 12, point 8).

The corpus (`rpkicorpus`) is one good tree per case with exactly one defect.  rpki-client, FORT
and OctoRPKI judge all of it in a few runs; for every case, if we accept it a majority of them
must accept it too, and where we refuse what a majority accepts our reason must cite the RFC
(or X.690) clause we apply.  The tests that need no judges check our own verdicts on the
defects the issue found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onereg.rpki import der as der_module
from onereg.rpki.resources import INHERIT
from onereg.rpki.validate import ValidationResult, validate
from rpkicorpus import (
    AD_OBJ,
    CASES,
    JUDGE_NAMES,
    OURS,
    Case,
    CertPlan,
    Ctx,
    Issuer,
    Matrix,
    build,
    certificate,
    judge,
    load_keys,
    our_reasons,
)
from rpkijudges import free_port, missing_judges, world_dir

MISSING = missing_judges()
needs_judges = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install them)"
)
CITES = re.compile(r"RFC \d{4}|X\.690")
CONTROLS = ("control", "control-ta")


@pytest.fixture(scope="module")
def key_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the corpus's RSA keys are kept between runs (pytest's cache, when it is on)."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("rpki-corpus-keys")
    return Path(cache.mkdir("rpki-corpus-keys"))


@pytest.fixture(scope="module")
def matrix(key_cache: Path) -> Iterator[Matrix]:
    with world_dir("onereg-corpus-") as workdir:
        corpus = build(workdir, f"rsync://127.0.0.1:{free_port()}/", key_cache=key_cache)
        yield judge(corpus, workdir)


def _ours(key_cache: Path, names: tuple[str, ...]) -> tuple[ValidationResult, dict[str, int]]:
    """Our verdict on a few cases, read straight from the generated tree (no rsync)."""
    cases = tuple(c for c in CASES if c.name in names)
    with world_dir("onereg-corpus-") as workdir:
        corpus = build(workdir, "rsync://127.0.0.1:8873/", cases, key_cache=key_cache)
        mirror = workdir / "mirror"
        mirror.mkdir()
        (mirror / "127.0.0.1:8873").symlink_to(corpus.root)
        return validate(list(corpus.tals), mirror, corpus.now), corpus.asn


def test_the_corpus_breaks_one_thing_per_case_everywhere() -> None:
    defects = [c for c in CASES if c.name not in CONTROLS]
    assert len(defects) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    per_target = Counter(c.target for c in defects)
    assert set(per_target) == {"TA", "CA", "manifest", "CRL", "CMS", "ROA"}
    assert min(per_target.values()) >= 5
    assert all(len(c.changes) == 1 for c in defects)
    assert all(c.plan() != Case("x", c.target, "", {}).plan() for c in defects)


def test_a_defect_names_a_plan_field() -> None:
    with pytest.raises(KeyError, match=r"case typo: no plan field roa\.versio"):
        Case("typo", "ROA", "", {"roa.versio": True}).plan()


def test_our_verdicts_on_the_issue_findings(key_cache: Path) -> None:
    names = ("control", "roa-ee-inherit", "roa-der-version", "ca-no-aki", "mft-der-version")
    result, asn = _ours(key_cache, names)
    accepted = {v.asn for v in result.vrps}
    assert accepted == {asn["control"]}
    rejections = list(result.rejections)
    inherit = our_reasons(rejections, "roa-ee-inherit")
    assert any("ROA EE certificate uses inherit" in r and "RFC 9582" in r for r in inherit)
    version = our_reasons(rejections, "roa-der-version")
    assert any("ROA eContent is not DER" in r and "DEFAULT" in r for r in version)
    assert any(
        "manifest eContent is not DER" in r for r in our_reasons(rejections, "mft-der-version")
    )
    assert our_reasons(rejections, "ca-no-aki") == [
        "authority key identifier missing (RFC 6487 section 4.8.3)"
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_as_inherit_is_read_as_inherit(
    key_cache: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """Both decoders once read an AS `inherit` as "no AS resources" (its NULL has no value)."""
    subject, issuer = load_keys(2, key_cache)
    where = Issuer(issuer, "rsync://127.0.0.1/repo/ca.cer", "rsync://127.0.0.1/repo/ca.crl")
    plan = CertPlan(ca=False, ip=None, asn_inherit=True)
    ctx = Ctx(datetime.now(UTC), issuer)
    der = certificate(plan, subject, where, 2, [(AD_OBJ, "rsync://127.0.0.1/repo/a.mft")], ctx)
    monkeypatch.setattr(der_module, "FAST_PATH", fast)
    assert (der_module._fast(der_module._fast_cert, der) is not None) == fast
    cert = der_module.decode_cert(der)
    assert cert.resources.asn is INHERIT and cert.resources.ipv4 is INHERIT


@needs_judges
def test_every_relying_party_accepts_the_controls(matrix: Matrix) -> None:
    for name in CONTROLS:
        assert {v: matrix.accepted[v][name] for v in (OURS, *JUDGE_NAMES)} == dict.fromkeys(
            (OURS, *JUDGE_NAMES), True
        ), name


@needs_judges
def test_never_laxer_than_the_majority(matrix: Matrix) -> None:
    laxer = [
        (c.name, {j: matrix.accepted[j][c.name] for j in JUDGE_NAMES})
        for c in CASES
        if matrix.accepted[OURS][c.name] and not matrix.majority_accepts(c.name)
    ]
    assert laxer == []


@needs_judges
def test_where_stricter_we_cite_the_rfc(matrix: Matrix) -> None:
    stricter = [
        c.name
        for c in CASES
        if not matrix.accepted[OURS][c.name] and matrix.majority_accepts(c.name)
    ]
    assert stricter  # the corpus does find such cases (DER rules, the TA's self-signature)
    uncited = {n: why for n in stricter if not any(map(CITES.search, why := matrix.reasons[n]))}
    assert uncited == {}
