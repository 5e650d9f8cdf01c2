// The federation page: per registry, log size, latest checkpoint, cosignatures and the quorum,
// and how fresh this node's mirror of each peer is.
"use strict";

const box = document.getElementById("federation");
const status = document.getElementById("status");

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

refresh();
setInterval(refresh, 5000);
