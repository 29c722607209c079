// The balance (total, available, held in open offers) and the sandbox rail: link an account
// (the rail checks the IBAN before it is stored), Top up, Cash out. The sandbox is a fake bank
// and says so.

import { formatMinor, splitAmount } from "../amount.js";
import { amountIn, busy, errorLine, field, h, mount } from "./h.js";

export async function money(app) {
  const { wallet } = app;
  const root = h("section", { "aria-labelledby": "money-title" });
  const balances = h("div", { "aria-live": "polite" });
  async function refresh() {
    const list = await wallet.balances();
    const rows = wallet.node.currencies.map((c) => {
      const b = list.find((x) => x.currency === c.code) ?? { balance: formatMinor(c.code, c.decimals, 0n), available: formatMinor(c.code, c.decimals, 0n) };
      const held = splitAmount(b.balance).minor - splitAmount(b.available).minor;
      return h("tr", {}, h("th", { scope: "row", text: c.code }), h("td", { text: b.balance }), h("td", { text: b.available }),
        h("td", { text: formatMinor(c.code, c.decimals, held) }));
    });
    mount(balances, h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Balance, scrolls sideways" }, h("table", { "aria-label": "Balance" },
      h("thead", {}, h("tr", {}, ["Currency", "Total", "Available", "Held in open offers"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows))));
  }
  root.append(h("h1", { id: "money-title", text: "Balance" }), balances, sandbox(app, refresh));
  root.refresh = refresh;
  await refresh();
  return root;
}

function sandbox(app, refresh) {
  const { wallet } = app;
  const iban = field("IBAN", { autocomplete: "off", spellcheck: "false" }, "The sandbox bank checks it (e.g. DE89 3704 0044 0532 0130 00).");
  const linkErr = errorLine();
  const linked = h("p", { "aria-live": "polite" });
  const linkButton = h("button", { type: "submit", text: "Link account" });
  const linkForm = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(linkButton, linkErr, async () => {
        const account = await wallet.link(iban.input.value);
        linked.textContent = `Linked: ${account.reference}`;
        linked.className = "ok";
      });
    },
  }, iban, linkButton, linked, linkErr);

  const amount = field("Amount", { inputmode: "decimal", autocomplete: "off" }, `e.g. 50 or ${wallet.node.default_currency}:50.00`);
  const err = errorLine();
  const done = h("p", { class: "ok", "aria-live": "polite" });
  const run = (type, button) => busy(button, err, async () => {
    done.textContent = "";
    const parsed = amountIn(wallet, amount);
    if (!parsed) return;
    await wallet.fund(type, parsed.text);
    done.textContent = type === "top_up" ? `Topped up ${parsed.text}` : `Cashed out ${parsed.text}`;
    await refresh();
  });
  const topUp = h("button", { type: "button", text: "Top up", onclick: () => run("top_up", topUp) });
  const cashOut = h("button", { type: "button", class: "secondary", text: "Cash out", onclick: () => run("cash_out", cashOut) });
  return h("div", { class: "card sandbox" },
    h("h2", { text: "Sandbox bank (not real money)" }),
    h("p", { class: "hint", text: "A pretend bank for trying Chit: link an account once, then move money in and out." }),
    linkForm, amount, h("div", { class: "row" }, topUp, cashOut), done, err);
}
