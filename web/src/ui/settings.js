// Settings: auto-accept (off, contacts, everyone), invoice templates (kept in this browser
// only, like the CLI's: their notes are private), and API tokens (create, list, revoke; a new
// token is shown once, the node keeps only the key derived from it).

import { amountIn, busy, errorLine, field, h, mount, when } from "./h.js";

export const EXPIRIES = [["3600000", "1 hour"], ["86400000", "1 day"], ["604800000", "7 days"], ["2592000000", "30 days"]];
const SCOPES = ["send", "request", "decide", "say"];

export async function settings(app) {
  const { wallet } = app;
  const root = h("section", { "aria-labelledby": "settings-title" },
    h("h1", { id: "settings-title", text: "Settings" }),
    await autoAccept(wallet), await templates(wallet), await tokens(wallet),
    h("p", { class: "hint", text: `Node key fingerprint ${wallet.node.fingerprint} (pinned on first contact).` }));
  return root;
}

async function autoAccept(wallet) {
  const now = await wallet.settings();
  const mode = field("Accept offers automatically", {
    options: [["off", "Off: I decide each time"], ["contacts", "From contacts (people I have written to)"], ["everyone", "From everyone"]],
  });
  mode.input.value = now.auto_accept;
  const err = errorLine();
  const saved = h("p", { class: "ok", "aria-live": "polite" });
  const save = h("button", { type: "submit", text: "Save" });
  return h("form", {
    class: "card",
    onsubmit: (e) => {
      e.preventDefault();
      busy(save, err, async () => {
        saved.textContent = "";
        await wallet.setAutoAccept(mode.input.value);
        saved.textContent = "Saved";
      });
    },
  }, h("h2", { text: "Auto-accept" }), mode, save, saved, err);
}

async function templates(wallet) {
  const list = h("div", { "aria-live": "polite" });
  const draw = async () => {
    const all = await wallet.templates();
    const rows = Object.entries(all).map(([name, t]) => {
      const remove = h("button", {
        type: "button",
        class: "danger",
        text: "Remove",
        "aria-label": `Remove template ${name}`,
        onclick: async () => {
          await wallet.removeTemplate(name);
          await draw();
        },
      });
      return h("li", {}, h("strong", { text: name }), ` — ${t.amount}`, t.note ? `, “${t.note}”` : "", ` · ${EXPIRIES.find(([ms]) => Number(ms) === t.expires_ms)?.[1] ?? ""} `, remove);
    });
    mount(list, rows.length ? h("ul", { "aria-label": "Templates" }, rows) : h("p", { class: "hint", text: "No templates yet." }));
  };
  const name = field("Template name", { maxlength: 64 });
  const amount = field("Template amount", { inputmode: "decimal" });
  const note = field("Template note", { maxlength: 1000 });
  const expiry = field("Requests expire after", { options: EXPIRIES });
  expiry.input.value = "604800000";
  const err = errorLine();
  const save = h("button", { type: "submit", text: "Save template" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(save, err, async () => {
        if (!name.input.value.trim()) throw new Error("give the template a name");
        const parsed = amountIn(wallet, amount);
        if (!parsed) return;
        await wallet.saveTemplate(name.input.value.trim(), { amount: parsed.text, note: note.input.value, expires_ms: Number(expiry.input.value) });
        name.input.value = amount.input.value = note.input.value = "";
        await draw();
      });
    },
  }, name, amount, note, expiry, save, err);
  await draw();
  return h("div", { class: "card" }, h("h2", { text: "Invoice templates" }), list, form);
}

async function tokens(wallet) {
  const list = h("div", { "aria-live": "polite" });
  const shown = h("div", { "aria-live": "polite" });
  const err = errorLine();
  const draw = async () => {
    const keys = await wallet.apiKeys();
    const rows = keys.map((k) => {
      const revoke = k.revoked_at_ms
        ? h("span", { text: `revoked ${when(k.revoked_at_ms)}` })
        : h("button", {
          type: "button",
          class: "danger",
          text: "Revoke",
          "aria-label": `Revoke token ${k.label || k.key.slice(0, 8)}`,
          onclick: () => busy(revoke, err, async () => {
            await wallet.revokeKey(k.key);
            await draw();
          }),
        });
      return h("tr", {}, h("td", { text: k.label || "(no label)" }), h("td", { text: k.scope.join(", ") }),
        h("td", { text: when(k.created_at_ms) }), h("td", { text: when(k.expires_at_ms) }), h("td", {}, revoke));
    });
    mount(list, rows.length
      ? h("table", { "aria-label": "API tokens" }, h("thead", {}, h("tr", {}, ["Label", "Scope", "Made", "Expires", ""].map((t) => h("th", { scope: "col", text: t })))), h("tbody", {}, rows))
      : h("p", { class: "hint", text: "No API tokens." }));
  };
  const label = field("Token label", { maxlength: 64 });
  const checks = SCOPES.map((s) => h("label", { class: "row" }, h("input", { type: "checkbox", value: s, checked: true, style: null }), ` ${s}`));
  const expiry = field("Token lasts", { options: [["86400000", "1 day"], ["2592000000", "30 days"], ["7776000000", "90 days"]] });
  expiry.input.value = "7776000000";
  const create = h("button", { type: "submit", text: "Create token" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(create, err, async () => {
        const scope = checks.map((c) => c.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        if (scope.length === 0) throw new Error("choose at least one thing the token may do");
        const token = await wallet.createToken(label.input.value, scope, Date.now() + Number(expiry.input.value));
        mount(shown, h("p", {}, "Your new token (shown once; copy it now): ", h("code", { text: token })));
        await draw();
      });
    },
  }, label, h("fieldset", {}, h("legend", { text: "The token may" }), checks), expiry, create, err);
  await draw();
  return h("div", { class: "card" }, h("h2", { text: "API tokens" }), h("p", { class: "hint", text: "Let another program (an IMPT client, a script) act for you within a scope." }), list, form, shown);
}
