// The transfers page: the flows between registries per month (an SVG drawn here), and every
// transfer with its NRO steps, policy versions and both holders' signatures. It polls the
// node (a 304 while no log moved): every second while a transfer is in flight, else every 5 s.
"use strict";

const flowsBox = document.getElementById("flows");
const listBox = document.getElementById("transfers");
const statusLine = document.getElementById("status");
const SVG = "http://www.w3.org/2000/svg";
// one colour per source registry, each with at least 3:1 contrast on white (non-text, WCAG 1.4.11)
const COLOURS = { iana: "#4b5563", afrinic: "#b45309", apnic: "#047857", arin: "#1d4ed8",
  lacnic: "#7e22ce", ripencc: "#b91c1c" };
let names = {};
let shown = "";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function rir(id) { return names[id] || id; }

function moved(f) {
  const parts = [`${f.blocks} block${f.blocks === 1 ? "" : "s"}`];
  if (f.ipv4) parts.push(`${Number(f.ipv4).toLocaleString("en")} IPv4 addresses`);
  if (f.ipv6 !== "0") parts.push(`${BigInt(f.ipv6).toLocaleString("en")} IPv6 addresses`);
  if (f.asn) parts.push(`${f.asn} AS numbers`);
  return parts.join(", ");
}

/** Lanes (source -> recipient) across months; a circle's area is the blocks moved. */
function chart(flows) {
  const months = [...new Set(flows.map((f) => f.month))].sort();
  const lanes = [...new Set(flows.map((f) => `${f.from}>${f.to}`))].sort();
  const left = 220, top = 30, col = 84, row = 40;
  const width = left + Math.max(months.length, 4) * col + 20;
  const height = top + lanes.length * row + 10;
  const most = Math.max(...flows.map((f) => f.blocks));
  // drawn at its own size (text as large as the page's), scaled down only on narrow screens
  const out = svg("svg", { id: "flows-chart", viewBox: `0 0 ${width} ${height}`, width, height,
    role: "img",
    "aria-labelledby": "flows-title flows-desc", class: "flows" },
  svg("desc", { id: "flows-desc" }, `${flows.length} flows over ${months.length} month(s); `
    + "the same figures are in the table below"));
  months.forEach((m, i) => out.append(svg("text", { x: left + i * col + col / 2, y: 16,
    "text-anchor": "middle", class: "axis" }, m)));
  lanes.forEach((lane, j) => {
    const [from, to] = lane.split(">");
    const y = top + j * row + row / 2;
    out.append(svg("text", { x: 4, y: y + 5, class: "axis" }, `${rir(from)} → ${rir(to)}`),
      svg("line", { x1: left, x2: width - 10, y1: y, y2: y, class: "lane" }));
    for (const f of flows.filter((x) => x.from === from && x.to === to)) {
      const x = left + months.indexOf(f.month) * col + col / 2;
      const r = 5 + 11 * Math.sqrt(f.blocks / most);
      out.append(svg("circle", { cx: x, cy: y, r, fill: COLOURS[from] || "#4b5563",
        "data-flow": `${f.month} ${from} ${to}` },
      svg("title", {}, `${f.month}: ${rir(from)} → ${rir(to)}: ${moved(f)}`)),
      svg("text", { x: x + r + 3, y: y + 5, class: "count" }, String(f.blocks)));
    }
  });
  return out;
}

function flowsView(flows) {
  if (!flows.length) return el("p", { class: "muted" }, "No finished transfer yet.");
  const rows = flows.map((f) => [f.month, rir(f.from), rir(f.to), moved(f)]);
  return el("div", {}, el("figure", { class: "chart" }, chart(flows)),
    table(["Month", "From", "To", "Moved"], rows, "Finished transfers per month"));
}

function steps(t) {
  return el("ol", { class: "steps" }, ...t.steps.map((s) => el("li", {},
    el("code", {}, s.step), ` in ${rir(s.registry)}'s log, entry ${s.seq}`,
    s.time ? `, ${s.time}` : "")));
}

// What each signature's status says; each is checked with the key the signer's registry log
// held for the holder when it logged the transfer (not the key now).
const SIGNATURE_WORDS = { verified: "signature verifies", invalid: "signature does not verify",
  "unknown-key": "key not known here", missing: "signature missing" };
const SIGNATURE_CLASS = { verified: "ok", invalid: "warn", "unknown-key": "muted",
  missing: "warn" };

function signatures(t) {
  return el("ul", { class: "sigs" }, ...t.signatures.map((s) => {
    const status = s.status in SIGNATURE_WORDS ? s.status : "invalid";
    const parts = [`${s.role}: ${s.holder} (${rir(s.registry)}) `,
      el("span", { class: SIGNATURE_CLASS[status] }, SIGNATURE_WORDS[status])];
    if (s.keyUsed) parts.push(` with the ${s.keyUsed} (key id ${s.keyId})`);
    if (s.problem) parts.push(el("div", { class: "muted" }, s.problem));
    if (s.signature) {
      const key = s.publicKey
        ? el("div", {}, "Ed25519 public key: ", el("code", { class: "wrap" }, s.publicKey)) : null;
      parts.push(el("details", {}, el("summary", {}, key ? "key and signature" : "signature"),
        key, el("div", {}, "signature: ", el("code", { class: "wrap" }, s.signature))));
    }
    return el("li", { "data-status": status }, ...parts);
  }));
}

function policy(t) {
  const entries = Object.entries(t.policy || {});
  if (!entries.length) return "—";
  return el("span", {}, ...entries.map(([k, v], i) => el("span", {}, i ? "; " : "",
    `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)));
}

function stateCell(t) {
  const word = t.inFlight ? "in flight: " : "";
  return el("div", {}, el("strong", { class: `state ${t.inFlight ? "warn" : "ok"}`,
    "data-state": t.state }, word + t.state), steps(t));
}

function listView(list) {
  if (!list.length) return el("p", { class: "muted" }, "No transfers in the logs this node sees.");
  const head = ["Block", "From → to", "Holders", "Kind", "NRO state and steps", "Policy",
    "Signatures"];
  const wrap = table(head, list.map((t) => [el("code", {}, t.resource),
    `${rir(t.from)} → ${rir(t.to)}`, `${t.sourceHolder} → ${t.recipientHolder}`, t.kind,
    stateCell(t), policy(t), signatures(t)]), "Newest first");
  const rows = wrap.querySelectorAll("tbody tr");
  list.forEach((t, i) => {
    rows[i].dataset.id = t.id;
    rows[i].dataset.state = t.state;
    // each cell says its column: on a phone the rows are stacked, without the header row
    rows[i].querySelectorAll("td").forEach((td, j) => { td.dataset.label = head[j]; });
  });
  return wrap;
}

async function refresh() {
  let busy = false;
  try {
    const got = await api("api/transfers");
    names = got.names || {};
    busy = got.transfers.some((t) => t.inFlight);
    const text = JSON.stringify(got.transfers) + JSON.stringify(got.flows);
    if (text !== shown) {
      shown = text;
      flowsBox.replaceChildren(flowsView(got.flows));
      listBox.replaceChildren(listView(got.transfers));
    }
    const cut = got.truncated.length ? ` Only the newest ${got.limit} of ${got.truncated.join(", ")}'s log.` : "";
    const flying = got.transfers.filter((t) => t.inFlight).length;
    statusLine.textContent = `${got.transfers.length} transfers, ${flying} in flight.${cut} `
      + `Updated ${new Date().toLocaleTimeString()}.`;
  } catch (e) {
    listBox.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
  setTimeout(refresh, busy ? 1000 : 5000);
}

refresh();
