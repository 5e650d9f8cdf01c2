// The lookup page: the chain IANA -> registry -> holder, cross-registry holdings, the record's
// history from the log, its ROAs at this node, and the offline proof of holding.
"use strict";

const form = document.getElementById("search");
const input = document.getElementById("q");
const result = document.getElementById("result");
const status = document.getElementById("status");

function lookupLink(text) {
  return el("a", { href: "./?q=" + encodeURIComponent(text) }, text);
}

function chain(answer) {
  const rec = answer.record;
  const iana = answer.iana;
  const steps = [];
  steps.push(el("li", {}, el("span", { class: "step muted" }, "IANA"),
    el("strong", {}, iana ? iana.range : "no IANA block"),
    iana ? `designated to ${iana.designation}, ${iana.ianaStatus || iana.status}` : "",
    iana && iana.date ? el("div", { class: "muted" }, `since ${iana.date}`) : null));
  const regName = rec ? rec.registryName : answer.authoritativeName;
  steps.push(el("li", {}, el("span", { class: "step muted" }, "Registry"),
    el("strong", {}, regName || "none"),
    answer.authoritative ? `authoritative: ${answer.authoritativeName}` : "no registry is authoritative",
    rec ? el("div", { class: "muted" }, `from this node's ${answer.servedFrom}`) : null));
  if (rec) {
    const holder = rec.holder;
    steps.push(el("li", { id: "holder" }, el("span", { class: "step muted" }, "Holder"),
      el("strong", { id: "holder-handle" }, rec.handle || "(no holder)"),
      holder && holder.name ? holder.name : "",
      el("div", {}, `${rec.range} · ${rec.status} · ${rec.cc || "--"}`),
      el("div", { class: "muted" }, `registered ${rec.date}; in the log since ${rec.registered}`)));
  }
  return el("ol", { class: "chain", "aria-label": "Chain of authority" }, ...steps);
}

function cross(answer) {
  if (!answer.cross.length) return el("p", { class: "muted" }, "No cross-registry holdings overlap this record.");
  return table(["Range", "Held by", "In a block of", "Origin", "Log entry"],
    answer.cross.map((c) => [lookupLink(c.range), c.registry, c.authority, c.origin, String(c.seq)]));
}

function historyTable(answer) {
  if (answer.history === null) return el("p", { class: "muted" }, "Reading the log…");
  if (!answer.history.length) return el("p", { class: "muted" }, "No history in this log.");
  return table(["Version", "Time", "Log entry", "Kind", "Change", "Signed by", "Status", "Holder"],
    answer.history.map((v) => [String(v.version), v.time, String(v.seq), v.kind, v.change,
      v.signedBy, v.status || "", v.holder || ""]));
}

async function loadHistory(query, box) {
  // every version of the record: a search of the whole log, asked for after the lookup
  try {
    const full = await api("api/history?q=" + encodeURIComponent(query));
    box.replaceChildren(historyTable(full));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

async function rpki(answer, box) {
  const rec = answer.record;
  if (!rec || answer.servedFrom !== "own log" || !rec.handle) {
    box.append(el("p", { class: "muted" }, "RPKI: this node keeps ROAs only for its own registry's holders."));
    return;
  }
  try {
    const answerRoas = await fetch("/rpki/roas?holder=" + encodeURIComponent(rec.handle));
    const roas = answerRoas.ok ? await answerRoas.json() : [];
    if (!roas.length) {
      box.append(el("p", { class: "muted" }, `No ROAs issued for ${rec.handle} at this node.`));
      return;
    }
    box.append(table(["AS", "Prefixes", "ROA file"],
      roas.map((r) => [`AS${r.asn}`, r.prefixes.join(", "), r.file])));
  } catch (e) {
    box.append(el("p", { class: "muted" }, "RPKI state unavailable."));
  }
}

// VRPs covering or inside the block (or the AS's), and the RFC 6811 state of the announced
// routes inside or covering it when the node has a route table (api/rpki).
const ROUTES_STATE = {
  none: "No route table is loaded at this node (an operator names one in node.toml, [explorer] route_table), so no announced routes are shown.",
  loading: "The node is still reading its route table; look again in a moment.",
  failed: "The node could not read its route table.",
};

async function vrpsAndRoutes(answer, box) {
  const vrpBox = el("div", { id: "vrps" }, el("p", { class: "muted" }, "Reading the VRPs…"));
  const routeBox = el("div", { id: "routes" });
  box.append(el("h3", {}, "VRPs"), vrpBox, el("h3", {}, "Announced routes and their validity (RFC 6811)"), routeBox);
  let rpki;
  try {
    rpki = await api("api/rpki?q=" + encodeURIComponent(answer.query));
  } catch (e) {
    vrpBox.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  const sources = (rpki.vrpSources || []).join(" and ");
  if (!rpki.vrps.length) {
    vrpBox.replaceChildren(el("p", { class: "muted" }, `No VRP known to this node (from ${sources}) covers ${rpki.query}.`));
  } else {
    vrpBox.replaceChildren(table(["AS", "Prefix", "Max length", "Relation", "From"],
      rpki.vrps.map((v) => [`AS${v.asn}`, v.prefix, String(v.maxLength), v.relation || "", v.source]),
      `${rpki.vrpCount} VRP(s) from ${sources}` + (rpki.vrpCount > rpki.vrps.length ? `; the first ${rpki.vrps.length} shown` : "")));
  }
  if (rpki.routesState !== "loaded") {
    routeBox.replaceChildren(el("p", { class: "muted", id: "routes-note" }, ROUTES_STATE[rpki.routesState] || rpki.routesState,
      rpki.routesProblem ? ` (${rpki.routesProblem})` : ""));
    return;
  }
  if (!rpki.routes.length) {
    routeBox.replaceChildren(el("p", { class: "muted" }, `No route in ${rpki.routeTable} is inside or covers ${rpki.query}.`));
    return;
  }
  const word = { valid: "valid", invalid: "invalid", "not-found": "not found" };
  const mark = (r) => el("span", { class: r.state === "valid" ? "ok" : r.state === "invalid" ? "warn" : "muted",
    "data-state": r.state }, word[r.state] + (r.reason ? ` (${r.reason === "as" ? "wrong origin AS" : "too specific"})` : ""));
  routeBox.replaceChildren(table(["Route", "Origin", "ROV state", "Decided by"],
    rpki.routes.map((r) => [r.prefix, r.origin === null ? "none (AS_SET)" : `AS${r.origin}`, mark(r), r.vrps.join("; ")]),
    `${rpki.routeCount} route(s) in ${rpki.routeTable}` + (rpki.routeCount > rpki.routes.length ? `; the first ${rpki.routes.length} shown` : "")));
}

function proof(answer) {
  if (!answer.proof) {
    if (answer.authoritativeUi) {
      return el("p", {}, "Proofs of holding come from the authoritative registry: ",
        el("a", { href: answer.authoritativeUi }, `open this lookup at ${answer.authoritativeName}`), ".");
    }
    return el("p", { class: "muted" }, "This node holds no record to prove.");
  }
  const p = answer.proof;
  return el("div", {},
    el("p", {}, el("a", { class: "button", id: "proof-download", href: p.url, download: p.file },
      "Download the proof of holding"), " ",
      el("a", { href: p.policy, download: "policy.txt", id: "policy-download" }, "and the federation's policy.txt")),
    el("p", {}, "Check it offline, with no network and no database:"),
    el("pre", {}, el("code", { id: "verify-command" }, p.command)));
}

function resourceAnswer(answer) {
  const out = [el("h2", {}, `${answer.query}`), chain(answer)];
  if (answer.authoritativeUi) {
    out.push(el("p", { id: "elsewhere" }, `${answer.authoritativeName} is authoritative for ${answer.query}: `,
      el("a", { href: answer.authoritativeUi }, `see its explorer`),
      answer.record ? " (shown here from this node's verified mirror of its log)." : "."));
  }
  if (!answer.record) {
    out.push(el("p", { class: "warn" }, `No registry this node follows has a record covering ${answer.query}.`));
  }
  out.push(el("h2", {}, "Cross-registry holdings"), cross(answer));
  const historyBox = el("div", { id: "history" }, historyTable(answer));
  out.push(el("h2", {}, "History from the log"), historyBox);
  if (answer.record) loadHistory(answer.query, historyBox);
  const roaBox = el("div", { id: "rpki" });
  out.push(el("h2", {}, "RPKI"), roaBox);
  out.push(el("h2", {}, "Offline proof"), proof(answer));
  rpki(answer, roaBox).then(() => vrpsAndRoutes(answer, roaBox));
  return out;
}

function holderAnswer(answer) {
  const out = [el("h2", {}, `Holder ${answer.query}`)];
  for (const h of answer.holders) {
    out.push(el("h3", {}, `${h.registryName} (${h.servedFrom})`));
    if (h.holder) out.push(el("p", { id: "holder-handle" }, `${h.holder.handle} ${h.holder.name} ${h.holder.cc}`));
    out.push(table(["Resource", "Status", "Date", "Country"],
      h.resources.map((r) => [lookupLink(r.cidrs[0] || r.range), r.status, r.date, r.cc])));
    if (h.truncated) out.push(el("p", { class: "muted" }, "Only the first 100 resources are listed."));
    if (h.cross.length) {
      out.push(table(["Cross-registry holding", "In a block of", "Origin"],
        h.cross.map((c) => [c.range, c.authority, c.origin])));
    }
  }
  return out;
}

async function run(query, push) {
  if (!query) return;
  input.value = query;
  if (push) history_push(query);
  status.textContent = `Looking up ${query}…`;
  result.replaceChildren();
  try {
    const answer = await api("api/lookup?q=" + encodeURIComponent(query));
    result.replaceChildren(...(answer.kind === "holder" ? holderAnswer(answer) : resourceAnswer(answer)));
    status.textContent = "";
    result.setAttribute("data-query", query);
  } catch (e) {
    status.textContent = "";
    result.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

function history_push(query) {
  const url = new URL(location.href);
  url.searchParams.set("q", query);
  window.history.pushState({ q: query }, "", url);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run(input.value.trim(), true);
});
window.addEventListener("popstate", () => run(new URLSearchParams(location.search).get("q") || "", false));
run(new URLSearchParams(location.search).get("q") || "", false);
