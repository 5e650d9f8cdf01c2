"""The certification authority of one registry node: its trust anchor, a CA per holder that opts
in, the ROAs holders ask for, and a manifest and CRL per publication point.

The registry's own log stays the truth about who holds what; this CA only mirrors it into RPKI.
Its state (keys, serial counters, manifest and CRL numbers, issued objects) lives in a directory
the caller gives, apart from the node's file, because it holds private keys that must never travel
with a node's published log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource, range_to_cidrs
from onereg.registry.interrir import transfers_in
from onereg.registry.node import RegistryNode
from onereg.registry.transfers import SOURCE_FINALIZED
from onereg.rpki import objects as obj
from onereg.rpki.der import decode_cert
from onereg.rpki.keypool import KeySource, generate_key
from onereg.rpki.objects import ResourceSet, RoaPrefix

TA_NAME = "ta"
CERT_LIFETIME = timedelta(days=365)
CERT_BACKDATE = timedelta(days=1)
LIST_LIFETIME = timedelta(days=1)  # manifest and CRL nextUpdate - thisUpdate (plus the backdate)
LIST_BACKDATE = timedelta(minutes=5)
RETENTION_LIMIT = timedelta(days=7)
"""The longest the CA keeps certifying a block that was transferred away, whoever forgets to
release it: after that `sync` lets go, so no TA certifies outside its authority for long."""

Clock = Callable[[], datetime]


class RpkiError(OneregError):
    """A request the CA refuses (a ROA outside the holder's resources, an unknown holder)."""


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- resources from the node ---------------------------------------------------------------------


def authority_resources(node: RegistryNode) -> ResourceSet:
    """What the registry's trust anchor certifies: every row of its delegations table, i.e. what
    it delegated plus its own pool. Kept apart so that it can later come from the federation's
    authority map instead, without touching the CA."""
    return ResourceSet.of(d.resource for d in node.delegations())


def holder_resources(node: RegistryNode, handle: str) -> ResourceSet:
    """A holder's current delegations at this registry."""
    return ResourceSet.of(d.resource for d in node.holder_resources(handle))


# --- naming --------------------------------------------------------------------------------------


def ca_name(handle: str) -> str:
    """A file-system and URI safe, injective name for a holder's CA.

    Anything outside [A-Za-z0-9.-] (including '_' itself) becomes _XX, so two handles never share
    a name; the "h-" prefix keeps holder CAs apart from the trust anchor's "ta".
    """
    return "h-" + re.sub(r"[^A-Za-z0-9.-]", lambda m: f"_{ord(m.group()):02X}", handle)


def roa_file_name(asn: int, prefixes: Iterable[RoaPrefix]) -> str:
    """Derived from the content, so the same request always lands in the same file."""
    canonical = ",".join(str(p) for p in sorted(set(prefixes)))
    digest = hashlib.sha256(f"{asn}|{canonical}".encode()).hexdigest()[:16]
    return f"AS{asn}-{digest}.roa"


@dataclass(frozen=True)
class RepositoryUris:
    """Where the registry's repository is reachable.

    `rsync_base` ends in "/" and serves two modules, `ta` (trust-anchor certificates, what the TAL
    names) and `repo` (publication points). `notify` is the RRDP notification URI put in every
    CA's SIA, `https_base` an https location of the TA certificate for the TAL; both optional.
    """

    rsync_base: str
    notify: str | None = None
    https_base: str | None = None

    def ta_path(self, registry: RegistryId) -> str:
        return f"ta/{registry.value}.cer"

    def point_path(self, registry: RegistryId, name: str) -> str:
        return f"repo/{registry.value}/{name}/"

    def uri(self, path: str) -> str:
        return self.rsync_base + path


@dataclass(frozen=True)
class RoaRecord:
    """An issued ROA as the CA remembers it."""

    holder: str
    file: str
    asn: int
    prefixes: tuple[RoaPrefix, ...]
    serial: int


def issued_roas(db: sqlite3.Connection, handle: str | None = None) -> list[RoaRecord]:
    """The ROAs a CA's state (`ca.sqlite`) records, all or one holder's.

    Reads only that table: listing ROAs needs neither the registry's node nor the CA's
    trust-anchor check that opening a `RegistryCa` does."""
    sql = (
        "SELECT c.holder, r.file, r.asn, r.prefixes, r.serial "
        "FROM roas r JOIN cas c ON c.name = r.ca"
    )
    rows = (
        db.execute(sql + " ORDER BY c.holder, r.file")
        if handle is None
        else db.execute(sql + " WHERE c.holder = ? ORDER BY r.file", (handle,))
    )
    return [
        RoaRecord(h, f, a, tuple(RoaPrefix.parse(p) for p in orjson.loads(ps)), s)
        for h, f, a, ps, s in rows
    ]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cas (
    name TEXT PRIMARY KEY,
    holder TEXT,
    serial INTEGER NOT NULL,
    not_after TEXT NOT NULL,
    resources TEXT NOT NULL,
    cert BLOB NOT NULL,
    next_serial INTEGER NOT NULL DEFAULT 1,
    mft_number INTEGER NOT NULL DEFAULT 0,
    crl_number INTEGER NOT NULL DEFAULT 0,
    mft_serial INTEGER,
    mft_not_after TEXT,
    this_update TEXT,
    content_hash TEXT,
    mft BLOB,
    crl BLOB
);
CREATE TABLE IF NOT EXISTS roas (
    ca TEXT NOT NULL,
    file TEXT NOT NULL,
    asn INTEGER NOT NULL,
    prefixes TEXT NOT NULL,
    serial INTEGER NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (ca, file)
);
CREATE TABLE IF NOT EXISTS revoked (
    ca TEXT NOT NULL,
    serial INTEGER NOT NULL,
    revoked_at TEXT NOT NULL,
    expires TEXT NOT NULL,
    PRIMARY KEY (ca, serial)
);
CREATE TABLE IF NOT EXISTS retained (
    transfer TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    resource TEXT NOT NULL,
    since TEXT NOT NULL,
    released TEXT
);
CREATE TABLE IF NOT EXISTS roa_published (
    ca TEXT NOT NULL,
    file TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (ca, file)
);
CREATE TABLE IF NOT EXISTS received (
    transfer TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    resource TEXT NOT NULL,
    since TEXT NOT NULL,
    published TEXT
);
CREATE TABLE IF NOT EXISTS requests_seen (
    nonce TEXT PRIMARY KEY,
    expires TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Retention:
    """A block that left the registry's inventory by a transfer but that the CA still certifies
    for its previous holder, so that the holder's ROAs stay valid until the recipient registry
    certifies the block (make-before-break). `released` is when the CA let go of it."""

    transfer: str
    holder: str
    resource: Resource
    since: datetime
    released: datetime | None


@dataclass(frozen=True)
class Receipt:
    """A block that arrived by a transfer; `published` is the first publication after the
    recipient's certificates held it (None until then)."""

    transfer: str
    holder: str
    resource: Resource
    since: datetime
    published: datetime | None


def trim_prefixes(prefixes: Iterable[RoaPrefix], held: ResourceSet) -> tuple[RoaPrefix, ...]:
    """The part of a ROA's prefixes that lies inside `held`, authorising nothing new.

    A prefix inside `held` stays as it is; one that straddles its edge becomes the CIDR pieces
    inside `held` that are no longer than its maxLength, each with the same maxLength (every
    route such a piece authorises the original authorised too); the rest goes.
    """
    out: set[RoaPrefix] = set()
    for p in prefixes:
        resource = p.resource
        if held.contains(resource):
            out.add(p)
            continue
        for lo, hi in held.family(p.afi).overlapping(resource.start, resource.end):
            lo, hi = max(lo, resource.start), min(hi, resource.end)
            for net, plen in range_to_cidrs(lo, hi, p.afi.bits):
                if plen <= p.max_length:
                    out.add(RoaPrefix(p.afi, net, plen, p.max_length))
    return tuple(sorted(out))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class RegistryCa:
    """The RPKI CA of one registry; open it with `RegistryCa.open(node, state_dir, uris)`.

    Every change (`sync`, `enroll`, `add_roa`, `remove_roa`) only updates the issued objects;
    `publish` then re-signs the manifest and CRL of every publication point whose content changed
    (or whose lists are half way to their nextUpdate) and returns the full file set.
    """

    def __init__(
        self,
        node: RegistryNode,
        state_dir: Path,
        uris: RepositoryUris,
        keys: KeySource,
        clock: Clock,
        authority: Callable[[RegistryNode], ResourceSet],
    ) -> None:
        self.node = node
        self.registry = node.registry
        self.state_dir = state_dir
        self.uris = uris
        self._keys = keys
        self._clock = clock
        self._authority = authority
        self.db = sqlite3.connect(state_dir / "ca.sqlite", isolation_level=None)
        self.db.executescript(_SCHEMA)
        self._key_cache: dict[str, rsa.RSAPrivateKey] = {}

    @classmethod
    def open(
        cls,
        node: RegistryNode,
        state_dir: Path,
        uris: RepositoryUris,
        keys: KeySource = generate_key,
        clock: Clock = _utc_now,
        authority: Callable[[RegistryNode], ResourceSet] = authority_resources,
    ) -> RegistryCa:
        """Open (or create) the CA and make sure its trust anchor matches the authority."""
        private_dir(state_dir)
        private_dir(state_dir / "keys")
        ca = cls(node, state_dir, uris, keys, clock, authority)
        stored = ca._meta("registry")
        if stored is None:
            ca.db.execute("INSERT INTO meta VALUES ('registry', ?)", (node.registry.value,))
        elif stored != node.registry.value:
            raise RpkiError(f"{state_dir} is the CA of {stored}, not of {node.registry}")
        if ca._meta("created_seq") is None:  # transfers finalized before this are not retained
            ca.db.execute("INSERT INTO meta VALUES ('created_seq', ?)", (str(node.head()[0]),))
        ca._follow_uris()
        ca._sync_ta()
        return ca

    def _follow_uris(self) -> None:
        """Re-issue every CA certificate when the RRDP URI given now is not the one they carry
        (the node's config changed, or they date from when a URI nobody served was the default),
        so that relying parties are never sent to a server that does not answer."""
        wanted = self.uris.notify or ""
        ta = self._row(TA_NAME)
        issued = self._meta("notify")
        if issued is None and ta is not None:
            issued = decode_cert(bytes(ta["cert"])).notify_uri or ""
        if ta is None or issued == wanted:
            if issued != wanted:
                self._set_meta("notify", wanted)
            return

        def reissue() -> None:
            self._sync_ta(force=True)
            for handle in self.enrolled():
                self._sync_holder(handle, enrol=False, force=True)
            self._set_meta("notify", wanted)

        self._in_transaction(reissue)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RegistryCa:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # --- keys ------------------------------------------------------------------------------------

    def _key(self, name: str) -> rsa.RSAPrivateKey:
        """The CA's long-lived key, created on first use and kept mode 0600."""
        if name in self._key_cache:
            return self._key_cache[name]
        path = self.state_dir / "keys" / f"{name}.pem"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise RpkiError(f"{path} does not hold an RSA key")
            key = loaded
        else:
            key = self._keys()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
        self._key_cache[name] = key
        return key

    def ta_public_key(self) -> rsa.RSAPublicKey:
        """From the TA certificate when there is one: loading the private key checks it, which
        costs 0.1 s per registry on every publication (the TAL is written each time)."""
        row = self._row(TA_NAME)
        if row is not None:
            key = x509.load_der_x509_certificate(bytes(row["cert"])).public_key()
            if isinstance(key, rsa.RSAPublicKey):
                return key
        return self._key(TA_NAME).public_key()

    # --- serials and revocation ------------------------------------------------------------------

    def _next_serial(self, issuer: str) -> int:
        """Per-issuer serials, strictly increasing and never reused (RFC 5280 §4.1.2.2)."""
        row = self.db.execute(
            "UPDATE cas SET next_serial = next_serial + 1 WHERE name = ? RETURNING next_serial - 1",
            (issuer,),
        ).fetchone()
        if row is None:
            raise RpkiError(f"no CA named {issuer}")
        return int(row[0])

    def _revoke(self, issuer: str, serial: int, expires: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO revoked VALUES (?, ?, ?, ?)",
            (issuer, serial, _iso(self._clock()), _iso(expires)),
        )

    # --- trust anchor ----------------------------------------------------------------------------

    def _row(self, name: str) -> sqlite3.Row | None:
        self.db.row_factory = sqlite3.Row
        try:
            row: sqlite3.Row | None = self.db.execute(
                "SELECT * FROM cas WHERE name = ?", (name,)
            ).fetchone()
        finally:
            self.db.row_factory = None
        return row

    def _ca_cert(
        self,
        name: str,
        resources: ResourceSet,
        serial: int,
        now: datetime,
        parent: str | None,
    ) -> tuple[bytes, datetime]:
        point = self.uris.point_path(self.registry, name)
        not_after = now + CERT_LIFETIME
        if parent is None:
            issuer_key = self._key(name)
            crl = aia = None
        else:
            issuer_key = self._key(parent)
            parent_point = self.uris.point_path(self.registry, parent)
            crl = self.uris.uri(f"{parent_point}{parent}.crl")
            aia = self.uris.uri(self._cert_path(parent))
            parent_row = self._row(parent)
            if parent_row is not None:
                not_after = min(not_after, _parse(parent_row["not_after"]))
        cert = obj.resource_certificate(
            obj.CertSpec(
                subject_key=self._key(name).public_key(),
                issuer_key=issuer_key,
                serial=serial,
                not_before=now - CERT_BACKDATE,
                not_after=not_after,
                resources=resources,
                is_ca=True,
                self_signed=parent is None,
                ca_repository=self.uris.uri(point),
                manifest=self.uris.uri(f"{point}{name}.mft"),
                notify=self.uris.notify,
                crl=crl,
                aia=aia,
            )
        )
        return cert, not_after

    def _cert_path(self, name: str) -> str:
        if name == TA_NAME:
            return self.uris.ta_path(self.registry)
        return f"{self.uris.point_path(self.registry, TA_NAME)}{name}.cer"

    def _sync_ta(self, force: bool = False) -> None:
        """(Re)issue the self-signed TA certificate when the authority's resources changed.

        The key stays the same, so the TAL stays valid across re-issues. The authority is read
        again only when the node's log or the retained blocks moved since the TA was last
        checked: reading every delegation of a full registry takes seconds, and a publication
        with nothing new must be a quick no-op.
        """
        retained = self._retained_set(None)
        seen = f"{self._authority_id()} {orjson.dumps(retained.texts()).decode()}"
        row = self._row(TA_NAME)
        if row is not None and self._meta("ta_checked_at") == seen and not force:
            return
        resources = self._authority(self.node).union(retained)
        if resources.is_empty():
            raise RpkiError(f"{self.registry} has no resources to certify")
        same = row is not None and orjson.loads(row["resources"]) == resources.texts()
        if same and not force:
            self._set_meta("ta_checked_at", seen)
            return
        now = self._clock()
        # The TA's own certificate takes serials from the same counter as its children: they
        # share one issuer, whose serials must never repeat.
        serial = self._next_serial(TA_NAME) if row is not None else 1
        cert, not_after = self._ca_cert(TA_NAME, resources, serial, now, None)
        text = orjson.dumps(resources.texts()).decode()
        if row is None:
            self.db.execute(
                "INSERT INTO cas (name, holder, serial, not_after, resources, cert, next_serial) "
                "VALUES (?, NULL, ?, ?, ?, ?, 2)",
                (TA_NAME, serial, _iso(not_after), text, cert),
            )
        else:
            self.db.execute(
                "UPDATE cas SET serial = ?, not_after = ?, resources = ?, cert = ? WHERE name = ?",
                (serial, _iso(not_after), text, cert, TA_NAME),
            )
        self._set_meta("ta_checked_at", seen)

    def _authority_id(self) -> str:
        """What the authority was computed from: the node's log head and the function itself
        (a CA opened with another authority must not trust this one's check)."""
        size, last = self.node.head()
        function = getattr(self._authority, "__qualname__", repr(self._authority))
        return f"{size}:{last.hex()}:{function}"

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def ta_certificate(self) -> bytes:
        row = self._row(TA_NAME)
        assert row is not None
        return bytes(row["cert"])

    # --- holder requests ------------------------------------------------------------------------

    def claim_request(self, nonce: str, expires: str, now: datetime) -> bool:
        """Record a holder request's nonce; False when it was used before (a replay). Nonces
        are forgotten once their request has expired, when it would be refused anyway."""
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.db.execute("DELETE FROM requests_seen WHERE expires <= ?", (stamp,))
        try:
            self.db.execute(
                "INSERT INTO requests_seen (nonce, expires) VALUES (?, ?)", (nonce, expires)
            )
        except sqlite3.IntegrityError:
            return False
        return True

    # --- holder CAs ------------------------------------------------------------------------------

    def enrolled(self) -> list[str]:
        rows = self.db.execute("SELECT holder FROM cas WHERE holder IS NOT NULL ORDER BY holder")
        return [str(r[0]) for r in rows]

    def enroll(self, handle: str) -> bytes:
        """A holder opts in: a CA certificate holding exactly its current delegations."""
        if self.node.holder(handle) is None:
            raise RpkiError(f"{self.registry} has no holder {handle}")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cert = self._sync_holder(handle, enrol=True)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        if cert is None:
            raise RpkiError(f"{handle} holds nothing at {self.registry}")
        return cert

    def sync(self) -> None:
        """Follow the node: re-issue the TA and holder CAs whose resources changed, revoke the
        CA of a holder left with nothing, trim or revoke every ROA that no longer fits its holder.

        A block the node transferred to another registry is retained (still certified for its
        previous holder, see `retain`) until released or `RETENTION_LIMIT` passed."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._follow_transfers()
            self._sync_ta()
            for handle in self.enrolled():
                self._sync_holder(handle, enrol=False)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _sync_holder(self, handle: str, enrol: bool, force: bool = False) -> bytes | None:
        name = ca_name(handle)
        resources = holder_resources(self.node, handle).union(self._retained_set(handle))
        row = self._row(name)
        if row is None and not enrol:
            return None
        if resources.is_empty():
            if row is not None:
                self._withdraw_holder(name, row)
            return None
        text = orjson.dumps(resources.texts()).decode()
        if row is not None and row["resources"] == text and not force:
            return bytes(row["cert"])
        now = self._clock()
        serial = self._next_serial(TA_NAME)
        cert, not_after = self._ca_cert(name, resources, serial, now, TA_NAME)
        if row is None:
            self.db.execute(
                "INSERT INTO cas (name, holder, serial, not_after, resources, cert) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, handle, serial, _iso(not_after), text, cert),
            )
        else:
            self._revoke(TA_NAME, int(row["serial"]), _parse(row["not_after"]))
            self.db.execute(
                "UPDATE cas SET serial = ?, not_after = ?, resources = ?, cert = ? WHERE name = ?",
                (serial, _iso(not_after), text, cert, name),
            )
            self._fit_roas(handle, name, resources)
        return cert

    def _fit_roas(self, handle: str, name: str, resources: ResourceSet) -> None:
        """A holder's certificate shrank: each ROA that reaches outside it is replaced by one for
        the part still held (issued before the old one is revoked, both in this transaction, so
        one publication swaps them) or, when nothing is left, revoked."""
        row = self._row(name)
        assert row is not None
        for roa in self.roas(handle):
            if resources.covers(obj.roa_resources(roa.prefixes)):
                continue
            kept = trim_prefixes(roa.prefixes, resources)
            if kept:
                self._issue_roa(name, row, roa.asn, kept)
            self._drop_roa(name, roa)

    def _withdraw_holder(self, name: str, row: sqlite3.Row) -> None:
        self._revoke(TA_NAME, int(row["serial"]), _parse(row["not_after"]))
        self.db.execute("DELETE FROM roas WHERE ca = ?", (name,))
        self.db.execute("DELETE FROM revoked WHERE ca = ?", (name,))
        self.db.execute("DELETE FROM cas WHERE name = ?", (name,))

    # --- ROAs ------------------------------------------------------------------------------------

    def roas(self, handle: str | None = None) -> list[RoaRecord]:
        return issued_roas(self.db, handle)

    def add_roa(self, handle: str, asn: int, prefixes: Iterable[RoaPrefix]) -> str:
        """Issue a ROA for a holder's prefixes; refused unless every prefix lies inside the
        holder's certified resources. Returns the ROA's file name (idempotent)."""
        chosen = tuple(sorted(set(prefixes)))
        if not chosen:
            raise RpkiError("a ROA needs at least one prefix")
        if not 0 <= asn <= 0xFFFFFFFF:
            raise RpkiError(f"AS{asn} is not an AS number")
        name = ca_name(handle)
        # Checked inside the write transaction: a concurrent re-certification (after a
        # transfer) cannot shrink the holder's resources between the check and the issue.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self._row(name)
            if row is None:
                raise RpkiError(f"{handle} has no CA at {self.registry}; enroll first")
            held = ResourceSet.parse(*orjson.loads(row["resources"]))
            outside = [str(p) for p in chosen if not held.contains(p.resource)]
            if outside:
                raise RpkiError(f"{handle} does not hold {', '.join(outside)} at {self.registry}")
            file = self._issue_roa(name, row, asn, chosen)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return file

    def _issue_roa(
        self, name: str, row: sqlite3.Row, asn: int, chosen: tuple[RoaPrefix, ...]
    ) -> str:
        """Sign and store one ROA inside the caller's transaction (idempotent by file name)."""
        file = roa_file_name(asn, chosen)
        if self.db.execute("SELECT 1 FROM roas WHERE ca = ? AND file = ?", (name, file)).fetchone():
            return file
        now = self._clock()
        point = self.uris.point_path(self.registry, name)
        serial = self._next_serial(name)
        der = obj.roa(
            self._ee_spec(name, serial, now, _parse(row["not_after"]), self.uris.uri(point + file)),
            asn,
            chosen,
        )
        self.db.execute(
            "INSERT INTO roas VALUES (?, ?, ?, ?, ?, ?)",
            (name, file, asn, orjson.dumps([str(p) for p in chosen]).decode(), serial, der),
        )
        return file

    def _ee_spec(
        self, name: str, serial: int, now: datetime, not_after: datetime, uri: str
    ) -> obj.SignedObjectSpec:
        point = self.uris.point_path(self.registry, name)
        return obj.SignedObjectSpec(
            ee_key=self._keys(),
            issuer_key=self._key(name),
            serial=serial,
            not_before=now - CERT_BACKDATE,
            not_after=not_after,
            uri=uri,
            crl=self.uris.uri(f"{point}{name}.crl"),
            aia=self.uris.uri(self._cert_path(name)),
            signing_time=now,
        )

    def remove_roa(self, handle: str, file: str) -> bool:
        """Withdraw a ROA: revoke its EE certificate and drop it from the publication point."""
        self.db.execute("BEGIN IMMEDIATE")  # looked up and dropped in one write: revoked once
        try:
            found = [roa for roa in self.roas(handle) if roa.file == file]
            if found:
                self._drop_roa(ca_name(handle), found[0])
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return bool(found)

    def _drop_roa(self, name: str, roa: RoaRecord) -> None:
        row = self._row(name)
        expires = _parse(row["not_after"]) if row is not None else self._clock()
        self._revoke(name, roa.serial, expires)
        self.db.execute("DELETE FROM roas WHERE ca = ? AND file = ?", (name, roa.file))
        self.db.execute("DELETE FROM roa_published WHERE ca = ? AND file = ?", (name, roa.file))

    # --- transfers (see rpki.transfers) --------------------------------------------------------

    def _retained_set(self, handle: str | None) -> ResourceSet:
        """Blocks still certified after leaving the inventory: a holder's, or all (None)."""
        sql = "SELECT resource FROM retained WHERE released IS NULL"
        rows = (
            self.db.execute(sql)
            if handle is None
            else self.db.execute(sql + " AND holder = ?", (handle,))
        )
        return ResourceSet.parse(*(str(r[0]) for r in rows))

    def _in_transaction(self, work: Callable[[], None]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            work()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _follow_transfers(self) -> None:
        """Retain what was transferred away since the CA exists; release overdue retentions."""
        created = int(self._meta("created_seq") or 0)
        for t in transfers_in(self.node, SOURCE_FINALIZED):
            if t.role == "source" and t.seq > created:
                self.retain(t.id, str(t.record["agreement"]["source_holder"]), t.block)
        overdue = _iso(self._clock() - RETENTION_LIMIT)
        self.db.execute(
            "UPDATE retained SET released = ? WHERE released IS NULL AND since < ?",
            (_iso(self._clock()), overdue),
        )

    def retain(self, transfer: str, handle: str, block: Resource) -> bool:
        """Keep certifying `block` for its previous holder `handle` after the registry gave it
        away (and the TA keeps it too), until `release`. False if the transfer was seen before
        (retained or already released): the call is idempotent."""
        if self.db.execute("SELECT 1 FROM retained WHERE transfer = ?", (transfer,)).fetchone():
            return False
        self.db.execute(
            "INSERT INTO retained VALUES (?, ?, ?, ?, NULL)",
            (transfer, handle, str(block), _iso(self._clock())),
        )
        return True

    def release(self, transfer: str) -> bool:
        """Stop certifying a retained block and follow the node: the previous holder's certificate
        shrinks (the old one revoked), ROAs are trimmed or revoked, the TA shrinks. False if
        there was nothing (left) to release."""
        done = self.db.execute(
            "UPDATE retained SET released = ? WHERE transfer = ? AND released IS NULL",
            (_iso(self._clock()), transfer),
        ).rowcount
        self.sync()
        return bool(done)

    def retentions(self) -> list[Retention]:
        rows = self.db.execute(
            "SELECT transfer, holder, resource, since, released FROM retained ORDER BY since"
        )
        return [
            Retention(t, h, Resource.parse(r), _parse(s), None if x is None else _parse(x))
            for t, h, r, s, x in rows
        ]

    def note_received(self, transfer: str, handle: str, block: Resource) -> bool:
        """Remember that `block` arrived by `transfer` for `handle` (call after `sync`), so the
        next `publish` can stamp when the recipient side first published it. Idempotent."""
        if self.db.execute("SELECT 1 FROM received WHERE transfer = ?", (transfer,)).fetchone():
            return False
        self.db.execute(
            "INSERT INTO received VALUES (?, ?, ?, ?, NULL)",
            (transfer, handle, str(block), _iso(self._clock())),
        )
        return True

    def receipt(self, transfer: str) -> Receipt | None:
        row = self.db.execute(
            "SELECT transfer, holder, resource, since, published FROM received WHERE transfer = ?",
            (transfer,),
        ).fetchone()
        if row is None:
            return None
        t, h, r, since, published = row
        return Receipt(
            t, h, Resource.parse(r), _parse(since), None if published is None else _parse(published)
        )

    def roa_published_at(self, handle: str, file: str) -> datetime | None:
        """When a holder's ROA first went out in a `publish` (None: not yet)."""
        row = self.db.execute(
            "SELECT at FROM roa_published WHERE ca = ? AND file = ?", (ca_name(handle), file)
        ).fetchone()
        return None if row is None else _parse(str(row[0]))

    def certified(self, handle: str | None = None) -> ResourceSet:
        """What the CA currently certifies: the TA's resources (None) or a holder CA's (empty
        when the holder has no CA)."""
        row = self._row(TA_NAME if handle is None else ca_name(handle))
        if row is None:
            return ResourceSet()
        return ResourceSet.parse(*orjson.loads(row["resources"]))

    # --- one-time EE certificates for objects kept outside the repository (RSC) ----------------

    def one_time_ee(
        self, handle: str, resources: ResourceSet, lifetime: timedelta
    ) -> tuple[obj.SignedObjectSpec, ResourceSet]:
        """The particulars of a one-time EE certificate under a holder's CA (hosted model: the
        registry signs on the holder's behalf with a fresh key), for an object distributed out
        of band such as an RSC. Refused unless `resources` lie within the holder's certificate.
        Returns the spec (its `uri` is empty: no SIA) and the resources checked."""
        name = ca_name(handle)
        row = self._row(name)
        if row is None:
            raise RpkiError(f"{handle} has no CA at {self.registry}; enroll first")
        if resources.is_empty():
            raise RpkiError("a signed object needs some resources")
        held = ResourceSet.parse(*orjson.loads(row["resources"]))
        outside = [str(r) for r in resources.resources() if not held.contains(r)]
        if outside:
            raise RpkiError(f"{handle} does not hold {', '.join(outside)} at {self.registry}")
        now = self._clock()
        not_after = min(now + lifetime, _parse(row["not_after"]))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            serial = self._next_serial(name)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return self._ee_spec(name, serial, now, not_after, ""), resources

    def revoke_ee(self, handle: str, serial: int, expires: datetime) -> None:
        """Revoke a one-time EE certificate (an RSC withdrawn before it expires): the next
        `publish` lists it on the holder CA's CRL."""
        name = ca_name(handle)
        if self._row(name) is None:
            raise RpkiError(f"{handle} has no CA at {self.registry}")
        self._in_transaction(lambda: self._revoke(name, serial, expires))

    # --- publication -----------------------------------------------------------------------------

    def _point_files(self, name: str) -> dict[str, bytes]:
        """Everything in a publication point except its manifest and CRL."""
        files: dict[str, bytes] = {}
        if name == TA_NAME:
            for child, cert in self.db.execute(
                "SELECT name, cert FROM cas WHERE name != ? ORDER BY name", (TA_NAME,)
            ):
                files[f"{child}.cer"] = bytes(cert)
        for file, der in self.db.execute(
            "SELECT file, der FROM roas WHERE ca = ? ORDER BY file", (name,)
        ):
            files[str(file)] = bytes(der)
        return files

    def publish(self, force: bool = False) -> dict[str, bytes]:
        """The repository's complete file set, {path under the rsync root: DER}.

        A publication point gets a new CRL and manifest (numbers + 1) when its content or
        revocations changed, when its lists are past half their lifetime, or when forced;
        otherwise the previous ones are kept, so publishing twice changes nothing.
        """
        now = self._clock()
        out = {self.uris.ta_path(self.registry): self.ta_certificate()}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            names = [str(r[0]) for r in self.db.execute("SELECT name FROM cas ORDER BY name")]
            for name in names:
                point = self.uris.point_path(self.registry, name)
                for file, der in self._point_lists(name, now, force).items():
                    out[point + file] = der
            self.db.execute(
                "UPDATE received SET published = ? WHERE published IS NULL", (_iso(now),)
            )
            self.db.execute(
                "INSERT OR IGNORE INTO roa_published SELECT ca, file, ? FROM roas", (_iso(now),)
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return out

    def _content_digest(self, name: str, files: dict[str, bytes]) -> str:
        """What a manifest and CRL cover: the listed files and the revocations."""
        revoked = self.db.execute(
            "SELECT serial, revoked_at FROM revoked WHERE ca = ? ORDER BY serial", (name,)
        ).fetchall()
        listed = [[f, hashlib.sha256(d).hexdigest()] for f, d in sorted(files.items())]
        return hashlib.sha256(orjson.dumps([listed, revoked])).hexdigest()

    def _point_lists(self, name: str, now: datetime, force: bool) -> dict[str, bytes]:
        files = self._point_files(name)
        self.db.execute("DELETE FROM revoked WHERE ca = ? AND expires < ?", (name, _iso(now)))
        digest = self._content_digest(name, files)
        row = self._row(name)
        assert row is not None
        stale = row["this_update"] is None or now >= _parse(row["this_update"]) + (
            LIST_LIFETIME / 2
        )
        if not force and not stale and row["content_hash"] == digest and row["mft"] is not None:
            files[f"{name}.crl"] = bytes(row["crl"])
            files[f"{name}.mft"] = bytes(row["mft"])
            return files
        return self._reissue_lists(name, row, files, now)

    def _reissue_lists(
        self, name: str, row: sqlite3.Row, files: dict[str, bytes], now: datetime
    ) -> dict[str, bytes]:
        """New CRL and manifest: revoke the previous manifest's one-time EE first, so the new
        CRL (listed on the new manifest) already names it."""
        if row["mft_serial"] is not None:
            self._revoke(name, int(row["mft_serial"]), _parse(row["mft_not_after"]))
        this_update = now - LIST_BACKDATE
        next_update = now + LIST_LIFETIME
        key = self._key(name)
        crl_number = int(row["crl_number"]) + 1
        mft_number = int(row["mft_number"]) + 1
        revoked = [
            (int(s), _parse(t))
            for s, t in self.db.execute(
                "SELECT serial, revoked_at FROM revoked WHERE ca = ? ORDER BY serial", (name,)
            )
        ]
        crl = obj.certificate_revocation_list(key, crl_number, this_update, next_update, revoked)
        files[f"{name}.crl"] = crl
        point = self.uris.point_path(self.registry, name)
        serial = self._next_serial(name)
        mft = obj.manifest(
            obj.SignedObjectSpec(
                ee_key=self._keys(),
                issuer_key=key,
                serial=serial,
                not_before=this_update,
                not_after=next_update,
                uri=self.uris.uri(f"{point}{name}.mft"),
                crl=self.uris.uri(f"{point}{name}.crl"),
                aia=self.uris.uri(self._cert_path(name)),
                signing_time=now,
            ),
            mft_number,
            this_update,
            next_update,
            files,
        )
        files[f"{name}.mft"] = mft
        listed = {f: d for f, d in files.items() if not f.endswith((".crl", ".mft"))}
        digest = self._content_digest(name, listed)
        self.db.execute(
            "UPDATE cas SET crl_number = ?, mft_number = ?, mft_serial = ?, mft_not_after = ?, "
            "this_update = ?, content_hash = ?, mft = ?, crl = ? WHERE name = ?",
            (
                crl_number,
                mft_number,
                serial,
                _iso(next_update),
                _iso(now),
                digest,
                mft,
                crl,
                name,
            ),
        )
        return files

    def numbers(self, name: str = TA_NAME) -> tuple[int, int]:
        """(manifest number, CRL number) last issued for a publication point."""
        row = self._row(name)
        if row is None:
            raise RpkiError(f"no CA named {name}")
        return int(row["mft_number"]), int(row["crl_number"])

    def tal(self) -> str:
        """The registry's TAL (RFC 8630): https URI first when there is one, then rsync."""
        return trust_anchor_locator(self.uris, self.registry, self.ta_public_key())


def trust_anchor_locator(
    uris: RepositoryUris, registry: RegistryId, public_key: rsa.RSAPublicKey
) -> str:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    lines = []
    path = uris.ta_path(registry)
    if uris.https_base is not None:
        lines.append(uris.https_base + path)
    lines.append(uris.uri(path))
    return "\n".join([*lines, "", base64.b64encode(spki).decode(), ""])
