// History: every money movement and payment with the balance after each, filtered by state,
// counterparty and dates; each receipt checked against the pinned node key in the browser; and
// Download CSV / Download JSON in exactly the CLI's formats (`chit history --csv` / `--json`).

import { iso8601, lines, toCsv, toJson } from "../history.js";
import { shortId } from "../ids.js";
import { busy, download, errorLine, field, h, mount, when } from "./h.js";

export async function history(app) {
  const { wallet } = app;
  const statements = await wallet.syncStatements();
  const deliveries = await wallet.messages();
  const all = lines(statements, deliveries, wallet.handle);
  const notes = new Map();
  const receipts = new Map();
  for (const d of deliveries) {
    if (d.message.kind === "offer" || d.message.kind === "request") notes.set(d.message.id, (await wallet.openText(d.message)) ?? "");
    const r = d.message.receipt;
    if (r) (receipts.get(r.message_id) ?? receipts.set(r.message_id, []).get(r.message_id)).push(r);
  }
  const verified = new Map();
  for (const [id, rs] of receipts) {
    const checks = await Promise.all(rs.map((r) => wallet.receiptValid(r)));
    verified.set(id, checks.every(Boolean));
  }
  const noteOf = (l) => (l.message ? (notes.get(l.message) ?? "") : "");

  const states = [...new Set(all.map((l) => l.state))].sort();
  const people = [...new Set(all.map((l) => l.counterparty).filter(Boolean))].sort();
  const state = field("State", { options: [["", "Any"], ...states.map((s) => [s, s])] });
  const who = field("Counterparty", { options: [["", "Anyone"], ...people.map((p) => [p, "@" + p])] });
  const from = field("From", { type: "date" });
  const until = field("Until", { type: "date" }, "Dates are days in UTC, as the CLI's --since and --until.");
  const table = h("div", { "aria-live": "polite" });
  const err = errorLine();

  const shown = () => {
    const since = from.input.value ? Date.parse(from.input.value + "T00:00:00Z") : null;
    const before = until.input.value ? Date.parse(until.input.value + "T00:00:00Z") + 86_400_000 : null;
    return all.filter((l) =>
      (!state.input.value || l.state === state.input.value) &&
      (!who.input.value || l.counterparty === who.input.value) &&
      (since == null || l.time_ms >= since) &&
      (before == null || l.time_ms < before));
  };
  const draw = () => {
    const rows = shown().map((l) => {
      const check = l.message && verified.has(l.message)
        ? h("span", { class: verified.get(l.message) ? "ok" : "error", text: verified.get(l.message) ? "verified" : "NOT verified" })
        : "";
      return h("tr", {},
        h("td", { text: when(l.time_ms) }), h("td", {}, h("code", { text: shortId(l.id) })), h("td", { text: l.kind }),
        h("td", { text: l.counterparty ? "@" + l.counterparty : (l.rail ?? "") }),
        h("td", { text: `${l.direction === "out" ? "−" : "+"}${l.amount}` }), h("td", { text: l.balance_after ?? "" }),
        h("td", { class: "state", text: l.state }), h("td", { text: noteOf(l) }), h("td", {}, check));
    });
    mount(table, rows.length
      ? h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "History, scrolls sideways" }, h("table", { "aria-label": "History" },
        h("thead", {}, h("tr", {}, ["Time", "Id", "Kind", "With", "Amount", "Balance after", "State", "Note", "Receipt"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows)))
      : h("p", { class: "hint", text: all.length ? "Nothing matches these filters." : "Nothing yet: top up, or pay someone." }));
  };
  for (const f of [state, who, from, until]) f.input.addEventListener("change", draw);
  draw();
  const csv = h("button", { type: "button", text: "Download CSV", onclick: () => busy(csv, err, async () => download(`chit-history-${iso8601(Date.now()).slice(0, 10)}.csv`, "text/csv", toCsv(shown(), noteOf))) });
  const json = h("button", { type: "button", class: "secondary", text: "Download JSON", onclick: () => busy(json, err, async () => download(`chit-history-${iso8601(Date.now()).slice(0, 10)}.json`, "application/json", toJson(shown(), noteOf))) });
  return h("section", { "aria-labelledby": "history-title" },
    h("h1", { id: "history-title", text: "History" }),
    h("div", { class: "row filters" }, state, who, from, until),
    h("div", { class: "row" }, csv, json), err, table);
}
