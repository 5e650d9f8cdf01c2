// The IPv6 and AS number views: IANA's blocks with the registry each is designated to and what
// the registries' records hold in them (api/space). AS numbers are also drawn as two bands
// (16-bit and 32-bit numbers), one link per block, coloured by registry.
"use strict";

function lookupHref(text) { return "./?q=" + encodeURIComponent(text); }

function percent(share) {
  if (share === 0) return "0 %";
  if (share < 0.001) return "< 0.1 %";
  return `${(share * 100).toFixed(1)} %`;
}

function blockTable(rows, family) {
  return table(["IANA block", "Registry", "IANA status", "Date", "Records", "Holders", "Held", "First record"],
    rows.map((b) => [el("a", { href: lookupHref(b.range) }, b.range), b.registry || b.designation, b.ianaStatus, b.date, String(b.records),
      String(b.holders), percent(b.heldShare),
      b.first ? el("a", { href: lookupHref(b.first), "data-first": b.first, class: `first-${family}` },
        `${b.first} (${b.firstHolder})`) : ""]));
}

function band(rows, lo, hi, label, tip) {
  const strip = el("div", { class: "band", role: "list", "aria-label": label });
  for (const b of rows) {
    if (b.end < lo || b.start > hi) continue;
    const start = Math.max(b.start, lo), end = Math.min(b.end, hi);
    const text = `AS${b.start}-AS${b.end}: ${b.registry || b.designation}, ${b.records} records, ${b.holders} holders`;
    const target = b.first || `AS${b.start}`;
    const link = el("a", { href: lookupHref(target), role: "listitem", "aria-label": text, class: "segment",
      "data-start": String(b.start), "data-end": String(b.end), "data-first": b.first || "" });
    link.style.left = `${((start - lo) / (hi - lo + 1)) * 100}%`;
    link.style.width = `${((end - start + 1) / (hi - lo + 1)) * 100}%`;
    link.style.background = b.colour;
    const say = () => { tip.textContent = `${text}. Click to look up ${target}.`; };
    link.addEventListener("mouseenter", say);
    link.addEventListener("focus", say);
    strip.append(link);
  }
  return el("div", { class: "band-row" }, el("div", { class: "muted" }, label), strip);
}

async function start() {
  const status = document.getElementById("space-status");
  let space, legend;
  try {
    [space, legend] = await Promise.all([api("api/space"), api("api/legend")]);
  } catch (e) {
    status.replaceChildren(el("span", { class: "error", role: "alert" }, e.message));
    return;
  }
  const tip = document.getElementById("asn-tip");
  const designated = space.asn.filter((b) => b.registry);
  const top = designated.length ? Math.max(...designated.map((b) => b.end)) : 131071;
  document.getElementById("asn-bands").replaceChildren(
    band(space.asn, 0, 65535, "16-bit AS numbers (AS0-AS65535)", tip),
    band(space.asn, 65536, Math.max(top, 65537), `32-bit AS numbers designated so far (AS65536-AS${Math.max(top, 65537)})`, tip));
  const legendBox = document.getElementById("space-legend");
  legendBox.replaceChildren(...legend.legends.registry.map((item) =>
    el("li", {}, el("span", { class: "swatch", "data-colour": item.colour }), item.label)));
  for (const swatch of legendBox.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.colour;
  document.getElementById("ipv6").replaceChildren(blockTable(space.ipv6, "ipv6"));
  document.getElementById("asn").replaceChildren(blockTable(space.asn, "asn"));
  status.textContent = `${space.ipv6.length} IPv6 blocks and ${space.asn.length} AS number blocks from IANA, with this node's records and its verified mirrors of the others.`;
  document.body.dataset.ready = "space";
}

start();
