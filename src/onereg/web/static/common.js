// Shared helpers of the explorer's pages: no framework, no build step (see onereg/web/__init__.py).
"use strict";

/** An element with text content (never HTML: data from the logs is shown as text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A table from a header row and rows of cells (strings or nodes), in a scrolling wrapper. */
function table(head, rows, caption) {
  const t = el("table", {}, caption ? el("caption", { class: "muted" }, caption) : null,
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
  return el("div", { class: "table-wrap" }, t);
}

/** JSON from the node's explorer API; an error answer becomes an Error with its message. */
async function api(path) {
  const answer = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await answer.json(); } catch (e) { body = null; }
  if (!answer.ok) throw new Error((body && body.error) || `${path}: HTTP ${answer.status}`);
  return body;
}

/** The explorer's pages, in the order of the navigation every page's header shows. */
const EXPLORER_PAGES = [["./", "Lookup"], ["map", "Map"], ["space", "IPv6 and ASNs"],
  ["federation", "Federation"], ["transfers", "Transfers"]];

/** The page header, defined here once: each page has an empty <header> that this fills (the
 *  scripts are deferred, so it runs once the page is parsed and before the page's own script). */
function header() {
  const top = document.querySelector("body > header");
  if (!top || top.childElementCount) return;
  const links = [];
  for (const [href, label] of EXPLORER_PAGES) {
    if (links.length) links.push(" · ");
    links.push(el("a", { href }, label));
  }
  top.append(el("span", { class: "brand" }, "onereg"),
    el("nav", { "aria-label": "Explorer pages" }, ...links), el("span", { class: "node" }));
}

header();

/** Mark the current page in the navigation and show which node serves it. */
async function frame() {
  const here = location.origin + location.pathname;
  for (const a of document.querySelectorAll("header nav a")) {
    if (a.href === here) a.setAttribute("aria-current", "page");
  }
  try {
    const legend = await api("api/legend");
    const node = document.querySelector("header .node");
    if (node) node.textContent = `served by the ${legend.node} node`;
  } catch (e) { /* the page still works without it */ }
}

document.addEventListener("DOMContentLoaded", frame);
