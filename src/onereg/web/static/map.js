// The IPv4 map: a Hilbert curve of 256 x 256 cells drawn on a canvas from a 64 KiB tile.
// Whole IPv4: one cell per /16, each /8 a 16 x 16 square; a /8: one cell per /24.
// Hover names the block; click zooms into a /8 (whole map) or opens the lookup (a /8's map).
"use strict";

const SIDE = 256;
const canvas = document.getElementById("map");
const ctx = canvas.getContext("2d");
const modeSelect = document.getElementById("mode");
const tip = document.getElementById("tip");
const where = document.getElementById("where");
const legendBox = document.getElementById("legend");
const timing = document.getElementById("timing");
const state = { mode: "registry", block: "all", cells: null, legends: null };

// Hilbert curve point d -> (x, y) on a side x side grid (side a power of two), and back.
function d2xy(side, d) {
  let x = 0, y = 0, t = d;
  for (let s = 1; s < side; s *= 2) {
    const rx = 1 & (t >> 1), ry = 1 & (t ^ rx);
    if (ry === 0) {
      if (rx === 1) { x = s - 1 - x; y = s - 1 - y; }
      const swap = x; x = y; y = swap;
    }
    x += s * rx; y += s * ry; t >>= 2;
  }
  return [x, y];
}

function xy2d(side, x, y) {
  let d = 0;
  for (let s = side / 2; s > 0; s = Math.floor(s / 2)) {
    const rx = (x & s) > 0 ? 1 : 0, ry = (y & s) > 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) { x = s - 1 - x; y = s - 1 - y; }
      const swap = x; x = y; y = swap;
    }
  }
  return d;
}

// Cell index -> pixel offset, computed once.
const OFFSET = new Uint32Array(SIDE * SIDE);
for (let d = 0; d < SIDE * SIDE; d++) {
  const [x, y] = d2xy(SIDE, d);
  OFFSET[d] = (y * SIDE + x) * 4;
}

function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function blockOf(d) {
  if (state.block === "all") return { text: `${d >> 8}.${d & 255}.0.0/16`, address: `${d >> 8}.${d & 255}.0.0` };
  const b = Number(state.block);
  return { text: `${b}.${d >> 8}.${d & 255}.0/24`, address: `${b}.${d >> 8}.${d & 255}.0` };
}

function draw() {
  const started = performance.now();
  const palette = state.legends[state.mode].map((item) => rgb(item.colour));
  const image = ctx.createImageData(SIDE, SIDE);
  const px = image.data;
  const cells = state.cells;
  for (let d = 0; d < cells.length; d++) {
    const c = palette[cells[d]] || palette[0];
    const o = OFFSET[d];
    px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = 255;
  }
  const small = document.createElement("canvas");
  small.width = SIDE; small.height = SIDE;
  small.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  if (state.block === "all") grid();
  return performance.now() - started;
}

function grid() {
  // each /8: a 16 x 16 square of the curve, labelled with its number
  const unit = canvas.width / 16;
  ctx.strokeStyle = "rgba(255,255,255,0.9)";
  ctx.lineWidth = 1;
  ctx.font = `${Math.max(9, Math.floor(unit / 3.2))}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let n = 0; n < 256; n++) {
    const [x, y] = d2xy(16, n);
    ctx.strokeRect(x * unit + 0.5, y * unit + 0.5, unit - 1, unit - 1);
    ctx.fillStyle = "rgba(0,0,0,0.75)";
    ctx.fillText(String(n), x * unit + unit / 2, y * unit + unit / 2);
  }
}

// What each colouring means, said under the legend.
const NOTES = {
  registry: "The registry IANA designated each block to.",
  status: "Each block's status in its registry's records; space an RIR holds but has not given out is available.",
  transfers: "Blocks moved by a transfer in a registry's log that this node follows (its own, or its verified mirrors): within one registry or between two, in the past year or earlier, or still in flight. A cell is coloured when any part of it was moved, by the latest kind of move (in flight first).",
  rpki: "The share of each cell's addresses covered by a VRP this node knows: its own CA's ROAs and, where the node is given one, a file of validated VRPs.",
};

function legend() {
  legendBox.replaceChildren(...state.legends[state.mode].map((item, code) =>
    el("li", {}, el("span", { class: "swatch", "data-colour": item.colour }), item.label)));
  for (const swatch of legendBox.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.colour;
  document.getElementById("legend-note").textContent = NOTES[state.mode] || "";
}

async function load() {
  const started = performance.now();
  const url = `api/map?mode=${state.mode}&block=${state.block}`;
  const answer = await fetch(url);
  if (!answer.ok) {
    let message = `HTTP ${answer.status}`;
    try { message = (await answer.json()).error; } catch (e) { /* keep the status */ }
    tip.replaceChildren(el("span", { class: "error", role: "alert" }, message));
    return;
  }
  state.cells = new Uint8Array(await answer.arrayBuffer());
  const drawMs = draw();
  const total = performance.now() - started;
  window.oneregMap = { block: state.block, mode: state.mode, drawMs, totalMs: total };
  canvas.dataset.drawn = `${state.mode}:${state.block}`;
  legend();
  where.textContent = state.block === "all"
    ? "All of IPv4: each square is a /8, each cell a /16. Click a square to zoom into it."
    : `${state.block}.0.0.0/8: each cell is a /24. Click a cell to look it up.`;
  timing.textContent = `Drawn in ${drawMs.toFixed(0)} ms (${total.toFixed(0)} ms with the tile).`;
}

function cellAt(event) {
  const box = canvas.getBoundingClientRect();  // border included: take it off
  const x = Math.floor((event.clientX - box.left - canvas.clientLeft) / canvas.clientWidth * SIDE);
  const y = Math.floor((event.clientY - box.top - canvas.clientTop) / canvas.clientHeight * SIDE);
  if (x < 0 || y < 0 || x >= SIDE || y >= SIDE) return null;
  return xy2d(SIDE, x, y);
}

function show(block, mode, push) {
  state.block = block; state.mode = mode;
  modeSelect.value = mode;
  if (push) {
    const url = new URL(location.href);
    url.searchParams.set("mode", mode);
    url.searchParams.set("block", block);
    history.pushState({}, "", url);
  }
  load();
}

canvas.addEventListener("mousemove", (event) => {
  const d = cellAt(event);
  if (d === null || !state.cells) return;
  const label = state.legends[state.mode][state.cells[d]];
  tip.textContent = `${blockOf(d).text}: ${label ? label.label : "unknown"}`;
});
canvas.addEventListener("click", (event) => {
  const d = cellAt(event);
  if (d === null) return;
  if (state.block === "all") show(String(d >> 8), state.mode, true);
  else location.href = "./?q=" + encodeURIComponent(blockOf(d).address);
});
canvas.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.block !== "all") show("all", state.mode, true);
});
modeSelect.addEventListener("change", () => show(state.block, modeSelect.value, true));
document.getElementById("whole").addEventListener("click", () => show("all", state.mode, true));
document.getElementById("zoom").addEventListener("submit", (event) => {
  event.preventDefault();
  const n = Number(document.getElementById("block").value);
  if (Number.isInteger(n) && n >= 0 && n <= 255) show(String(n), state.mode, true);
});
window.addEventListener("popstate", () => start(false));

async function start(first) {
  const params = new URLSearchParams(location.search);
  if (first) state.legends = (await api("api/legend")).legends;
  show(params.get("block") || "all", params.get("mode") || "registry", false);
}

start(true);
