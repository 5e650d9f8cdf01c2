// The transfers page: this node's NRO transfer log, in-flight transfers with their NRO state.
"use strict";

const box = document.getElementById("transfers");

function sets(t) {
  const out = [];
  for (const key of ["ip4nets", "ip6nets", "asns"]) {
    const set = t[key];
    if (!set) continue;
    for (const r of set.transfer_set || []) out.push(Object.values(r).join(" – "));
  }
  return out.join(", ");
}

function rows(list, state) {
  return list.map((t) => [sets(t), t.source_rir, t.source_organization.name, t.recipient_rir,
    t.recipient_organization.name, t.type, state(t)]);
}

async function load() {
  try {
    const log = await api("api/transfers");
    const head = ["Block", "From", "Source holder", "To", "Recipient holder", "Type", "State / date"];
    const all = rows(log.transfers_in_progress, (t) => t.status)
      .concat(rows(log.transfers, (t) => `finalized ${t.transfer_date}`));
    box.replaceChildren(all.length ? table(head, all)
      : el("p", { class: "muted" }, "No transfers in this registry's log."));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

load();
