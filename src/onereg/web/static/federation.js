// The federation page: per registry, log size, latest checkpoint, cosignatures and the quorum,
// and how fresh this node's mirror of each peer is.
"use strict";

const box = document.getElementById("federation");
const status = document.getElementById("status");
let registryNames = {}; // registry id -> its name, from the federation summary

function mirrorCell(row) {
  if (row.self) return el("span", { class: "ok" }, "this node");
  if (!row.mirror) return el("span", { class: "warn" }, "not mirrored");
  const m = row.mirror;
  const age = m.verifiedAgo === null ? "never verified" : `verified ${m.verifiedAgo} s ago`;
  const text = `${age}, size ${m.size}` + (m.problem ? ` (${m.problem})` : "");
  return el("span", { class: m.stale ? "warn" : "ok" }, (m.stale ? "stale: " : "fresh: ") + text);
}

async function refresh() {
  try {
    const fed = await api("api/federation");
    registryNames = Object.fromEntries(fed.registries.map((r) => [r.registry, r.name]));
    const rows = fed.registries.map((r) => {
      const cp = r.checkpoint;
      return [
        r.name,
        r.logSize === null ? "—" : String(r.logSize),
        cp ? `size ${cp.size}` : "none",
        cp ? el("span", {}, `${cp.cosigners.length} cosigned (${fed.quorum} needed) `,
          el("span", { class: r.quorumMet ? "ok" : "warn" }, r.quorumMet ? "quorum met" : "below quorum"),
          el("div", { class: "muted" }, cp.cosigners.join(", "))) : "—",
        mirrorCell(r),
        r.ui ? el("a", { href: r.ui }, "explorer") : "—",
      ];
    });
    box.replaceChildren(table(["Registry", "Log entries", "Latest checkpoint", "Cosignatures",
      "Mirror here", "Links"], rows));
    status.textContent = `Witness quorum: ${fed.quorum}. Updated ${new Date().toLocaleTimeString()}.`;
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

const firstRefresh = refresh(); // the evidence table names registries as this table does
setInterval(refresh, 5000);

// --- split-view evidence and audit findings --------------------------------------------------

const evidenceBox = document.getElementById("evidence");
const auditBox = document.getElementById("audit");

async function evidence() {
  await firstRefresh;
  try {
    const got = await api("api/evidence");
    if (!got.evidence.length) {
      evidenceBox.replaceChildren(el("p", { class: "ok", id: "no-evidence" },
        "None: no log has shown this node's mirrors two conflicting checkpoints."));
      return;
    }
    const rows = got.evidence.map((e) => [
      rname(e.registry), e.kind || "—",
      el("span", { class: e.verified ? "warn" : "error" }, e.reason),
      el("span", {}, el("a", { href: `api/evidence/${e.file}`, download: e.file }, e.file),
        " and ", el("a", { href: "api/policy.txt", download: "policy.txt" }, "policy.txt")),
      el("code", { class: "verify-evidence" }, e.command),
    ]);
    evidenceBox.replaceChildren(table(["Log", "Kind", "What the two checkpoints show",
      "Download", "Check it yourself"], rows));
  } catch (e) {
    evidenceBox.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

/** A registry's name as the table above gives it (its id until that table loaded). */
function rname(id) { return registryNames[id] || id; }

const FINDINGS = [
  ["conflicts", "Conflicts (two holders for the same numbers)",
    ["Family", "Overlap", "Size", "First", "Second"],
    (f) => [f.afi, f.overlap, f.size, f.first, f.second]],
  ["overclaimed", "Overclaimed (listed, but IANA gave it to no registry)",
    ["Registry", "Family", "Range", "Size", "Record", "IANA block"],
    (f) => [rname(f.registry), f.afi, f.range, f.size, f.record, f.iana_block]],
  ["unclaimed", "Unclaimed (IANA gave it, no registry lists it)",
    ["Registry", "Family", "Range", "Size", "IANA block", "IANA date"],
    (f) => [rname(f.registry), f.afi, f.range, f.size, f.iana_block, f.iana_date]],
  ["crossHoldings", "Cross-registry (held inside another registry's IANA block)",
    ["Registry", "Authority", "Family", "Range", "Size", "Origin"],
    (f) => [rname(f.registry), rname(f.authority), f.afi, f.range, f.size, f.origin]],
  ["specialPurpose", "On special-purpose space",
    ["Registry", "Family", "Record", "Special", "Allowed"],
    (f) => [rname(f.registry), f.afi, f.record, f.special, f.allowed ? "yes" : "no"]],
];

async function audit() {
  await firstRefresh;
  try {
    const got = await api("api/audit");
    if (got.pending) setTimeout(audit, 2000); // computed in the background: ask again soon
    if (!got.counts) {
      auditBox.replaceChildren(el("p", { class: "muted" }, "Computing the audit of this node's view…"));
      return;
    }
    const parts = [el("p", { class: got.ok ? "ok" : "warn" }, got.ok
      ? "No resource has two holders." : `${got.counts.conflicts} conflicts: some numbers have two holders.`)];
    if (got.pending) parts.push(el("p", { class: "muted" }, "Updating: a log moved since this audit."));
    for (const [key, title, head, cells] of FINDINGS) {
      const count = got.counts[key];
      const shownRows = got[key].map(cells);
      const more = count > shownRows.length ? ` (the first ${shownRows.length})` : "";
      parts.push(el("details", { class: "finding", "data-kind": key, open: key === "conflicts" && count ? "" : null },
        el("summary", {}, `${title}: ${count}`),
        count ? table(head, shownRows, `${count} in all${more}`) : el("p", { class: "muted" }, "none")));
    }
    if (got.notes.length) parts.push(el("ul", { class: "muted" }, ...got.notes.map((n) => el("li", {}, n))));
    auditBox.replaceChildren(...parts);
  } catch (e) {
    auditBox.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

evidence();
audit();
setInterval(evidence, 5000);
setInterval(audit, 30000);
