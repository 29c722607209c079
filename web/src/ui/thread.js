// One conversation: text bubbles, payment cards (amount, note, state, a live countdown, and the
// buttons the viewer may press), outcomes as messages with their receipts, and the composer
// (Send, Pay, Request) with a confirmation before any money moves.

import { splitAmount } from "../amount.js";
import { shortId } from "../ids.js";
import { amountIn, busy, countdown, errorLine, field, h, mount, when } from "./h.js";
import { EXPIRIES } from "./settings.js";

const OPEN = new Set(["pending", "scheduled"]);

/** What happened, in words, from the update's payment part. */
function outcomeText(part, sender) {
  const { payer, payee, amount, state } = part;
  switch (state) {
    case "accepted":
      return `@${payee} accepted ${amount} from @${payer}`;
    case "declined":
      return `@${payee} declined ${amount}; the money went back to @${payer}`;
    case "cancelled":
      return `@${sender} cancelled the ${part.kind} of ${amount}`;
    case "expired":
      return `The ${part.kind} of ${amount} expired; nothing was paid`;
    case "paid":
      return `@${payer} paid ${amount} to @${payee}`;
    case "rejected":
      return `@${payer} rejected the request for ${amount}`;
    case "scheduled":
      return `@${payer} will pay ${amount} on ${when(part.pay_at_ms)}`;
    case "refunded":
      return `@${payee} refunded ${amount} to @${payer}`;
    case "pending":
      return part.reason ? `Payment failed: ${part.reason}` : `${part.kind} of ${amount} is open again`;
    default:
      return `${part.kind} of ${amount}: ${state}`;
  }
}

export async function thread(app, conversationId, other) {
  const { wallet } = app;
  const root = h("section", { class: "thread-view", "aria-labelledby": "thread-title" });
  const list = h("ol", { class: "thread", "aria-label": `Messages with @${other}` });
  const info = await wallet.user(other).catch(() => null);
  const header = h("header", {},
    h("h2", { id: "thread-title", text: `@${other}` }),
    info ? h("p", { class: "hint", text: `Key fingerprint ${info.fingerprint}` }) : null);
  root.append(header, list, composer(app, other));
  let timer = null;
  let lastPage = { items: [], read_seq: 0 };

  // What the node said last stands while it cannot be asked; the outbox is always shown.
  async function refresh() {
    let page = lastPage;
    try {
      page = await wallet.thread(conversationId);
      lastPage = page;
    } catch (e) {
      if (e.status === 404) page = lastPage = { items: [], read_seq: 0 };
      else if (e.code !== "unreachable") throw e;
    }
    const latest = new Map();
    const receipts = new Map();
    for (const { message: m } of page.items) {
      if (m.payment) latest.set(m.payment.payment, m.payment);
      if (m.receipt) receipts.set(m.payment?.payment, m.receipt);
    }
    const outbox = (await wallet.outbox()).filter((o) => o.to === other);
    const deciding = new Set(outbox.filter((o) => o.kind === "decision").map((o) => o.payment));
    const rows = [];
    for (const item of page.items) rows.push(await row(app, item, latest, receipts, deciding));
    for (const o of outbox) {
      rows.push(h("li", { class: "mine sending" }, h("div", { class: "bubble" },
        o.kind === "decision" ? `${o.text}…`
          : o.amount ? `${o.kind === "offer" ? "Paying" : "Requesting"} ${o.amount}${o.text ? ` — ${o.text}` : ""}` : o.text,
        h("div", { class: "meta", text: "sending…" }))));
    }
    if (rows.length === 0) rows.push(h("li", { class: "hint", text: "No messages yet. Say hello, or send or request money." }));
    mount(list, rows);
    list.scrollTop = list.scrollHeight;
    const last = page.items.at(-1)?.message.seq;
    if (last && last > page.read_seq && page === lastPage) wallet.markRead(conversationId, last).catch(() => {});
  }

  // Countdowns tick every second without another request.
  timer = setInterval(() => {
    for (const el of list.querySelectorAll("[data-expires]")) {
      el.textContent = countdown(Number(el.dataset.expires));
    }
  }, 1000);
  root.refresh = refresh;
  root.dispose = () => clearInterval(timer);
  await refresh();
  return root;
}

async function row(app, { message: m, state }, latest, receipts, deciding) {
  const { wallet } = app;
  const mine = m.sender === wallet.handle;
  const cls = mine ? "mine" : "theirs";
  const time = h("div", { class: "meta", text: `${mine ? "you" : "@" + m.sender} · ${when(m.time_ms)}` });
  if (m.kind === "text") {
    const text = (await wallet.openText(m)) ?? "(a message this browser cannot open)";
    return h("li", { class: cls }, h("div", { class: "bubble" }, text, time));
  }
  if (m.kind === "payment_update") {
    const receipt = m.receipt;
    return h("li", { class: cls }, h("div", { class: "bubble outcome" },
      outcomeText(m.payment, m.sender),
      receipt ? receiptButton(app, receipt) : null, time));
  }
  const part = latest.get(m.id) ?? m.payment;
  const now = state ?? part.state;
  return h("li", { class: cls }, await card(app, m, part, now, receipts.get(m.id), time, deciding.has(m.id)));
}

async function card(app, m, part, state, receipt, time, deciding) {
  const { wallet } = app;
  const me = wallet.handle;
  const note = (await wallet.openText(m)) ?? "";
  const err = errorLine();
  const isOffer = m.kind === "offer";
  const title = isOffer ? (part.payer === me ? `You offered @${part.payee}` : `@${part.payer} offered you`)
    : (part.payee === me ? `You requested from @${part.payer}` : `@${part.payee} requests from you`);
  const buttons = [];
  const act = (label, type, cls) => {
    const b = h("button", {
      type: "button",
      class: cls,
      text: label,
      onclick: () => busy(b, err, async () => {
        const other = part.payer === me ? part.payee : part.payer;
        try {
          await wallet.decide(type, m.id, null, other, part.amount);
        } catch (e) {
          if (e.code !== "unreachable" && !(e.status >= 500)) throw e;
          err.textContent = "Not sent yet: the node cannot be reached. It is kept and sent when the node is back.";
        }
        await app.refresh();
      }),
    });
    return b;
  };
  // A decision waiting in the outbox: no second one until the node has answered it.
  if (OPEN.has(state) && deciding) buttons.push(h("span", { class: "meta", text: "your decision is being sent…" }));
  else if (OPEN.has(state)) {
    if (isOffer && state === "pending") {
      if (part.payee === me) buttons.push(act("Accept", "accept"), act("Decline", "decline", "secondary"));
      if (part.payer === me) buttons.push(act("Cancel", "cancel", "danger"));
    } else if (!isOffer) {
      if (part.payer === me) {
        buttons.push(act("Pay now", "pay"), payLater(app, m, part), act("Reject", "reject", "secondary"));
      }
      if (part.payee === me) buttons.push(act("Cancel", "cancel", "danger"));
    }
  }
  if (receipt) buttons.push(receiptButton(app, receipt));
  const scheduled = state === "scheduled" && part.pay_at_ms ? h("p", { text: `Scheduled: paid on ${when(part.pay_at_ms)}` }) : null;
  return h("article", { class: "payment", "aria-label": `${isOffer ? "Offer" : "Request"} of ${part.amount}` },
    h("div", { class: "meta", text: title }),
    h("div", { class: "amount", text: part.amount }),
    note ? h("p", { text: note }) : null,
    h("p", {}, h("span", { class: "state", text: state }), " · ",
      OPEN.has(state) ? h("span", { "data-expires": String(part.expires_at_ms), text: countdown(part.expires_at_ms) }) : `id ${shortId(m.id)}`),
    scheduled,
    part.reason ? h("p", { class: "error", text: part.reason }) : null,
    buttons.length ? h("div", { class: "row" }, buttons) : null,
    err, time);
}

function payLater(app, m, part) {
  const { wallet } = app;
  const b = h("button", {
    type: "button",
    class: "secondary",
    text: "Pay later",
    onclick: () => {
      const at = field("Pay at", { type: "datetime-local", step: "1", required: true }, `Before the request expires (${when(part.expires_at_ms)}).`);
      const local = new Date(Date.now() + 3_600_000 - new Date().getTimezoneOffset() * 60_000);
      at.input.value = local.toISOString().slice(0, 19);
      const dlgErr = errorLine();
      const ok = h("button", { type: "submit", text: "Schedule" });
      const dialog = h("dialog", { "aria-label": "Pay later" });
      const form = h("form", {
        onsubmit: (e) => {
          e.preventDefault();
          busy(ok, dlgErr, async () => {
            const ms = new Date(at.input.value).getTime();
            if (!Number.isFinite(ms)) throw new Error("choose a date and time");
            await wallet.decide("pay", m.id, ms, part.payee, part.amount);
            dialog.close();
            dialog.remove();
            await app.refresh();
          });
        },
      }, h("h2", { text: `Pay ${part.amount} to @${part.payee} later` }), at,
      h("div", { class: "row" }, ok, h("button", { type: "button", class: "secondary", text: "Back", onclick: () => { dialog.close(); dialog.remove(); } })), dlgErr);
      dialog.append(form);
      document.body.append(dialog);
      dialog.showModal();
    },
  });
  return b;
}

function receiptButton(app, receipt) {
  const b = h("button", {
    type: "button",
    class: "secondary",
    text: "Receipt",
    onclick: async () => {
      const valid = await app.wallet.receiptValid(receipt);
      const s = receipt.settlement;
      const dialog = h("dialog", { "aria-label": "Receipt" },
        h("h2", { text: "Receipt" }),
        h("p", { class: valid ? "ok" : "error", text: valid ? "Verified: signed by this node's key" : "NOT verified: this receipt is not signed by the pinned node key" }),
        h("table", {}, h("tbody", {},
          [["Outcome", s ? s.outcome : "(old form: says no outcome)"], ["Payer", `@${receipt.payer}`], ["Payee", `@${receipt.payee}`],
            ["Amount", receipt.amount], ["Time", when(receipt.time_ms)], ["Payment", receipt.message_id], ["Receipt id", receipt.transfer_id],
            ...(s?.reason ? [["Reason", s.reason]] : [])].map(([k, v]) => h("tr", {}, h("th", { scope: "row", text: k }), h("td", { text: v }))))),
        h("button", { type: "button", text: "Close", onclick: () => { dialog.close(); dialog.remove(); } }));
      document.body.append(dialog);
      dialog.showModal();
    },
  });
  return b;
}

/** Send text; Pay and Request open a form, then a confirmation, before anything is signed. */
function composer(app, other) {
  const { wallet } = app;
  const text = field("Message", { multiline: true, rows: 2, maxlength: 4000 });
  const err = errorLine();
  const send = h("button", { type: "submit", text: "Send" });
  const pay = h("button", { type: "button", class: "secondary", text: "Pay", onclick: () => paymentDialog(app, "offer", other).catch((e) => app.flash(e.message)) });
  const request = h("button", { type: "button", class: "secondary", text: "Request", onclick: () => paymentDialog(app, "request", other).catch((e) => app.flash(e.message)) });
  return h("form", {
    class: "compose",
    onsubmit: (e) => {
      e.preventDefault();
      const words = text.input.value;
      if (!words.trim()) return;
      busy(send, err, async () => {
        text.input.value = "";
        const sent = wallet.say(other, words);
        sent.catch(() => {}); // awaited below; the redraw in between must not count it unhandled
        await app.refresh();
        try {
          await sent;
        } catch (e) {
          if (e.code === "unreachable" || e.status >= 500) {
            err.textContent = "Not sent yet: the node cannot be reached. It is kept and sent when the node is back.";
            return;
          }
          text.input.value = words;
          throw e;
        } finally {
          await app.refresh();
        }
      });
    },
  }, text, h("div", { class: "row" }, send, pay, request), err);
}

async function paymentDialog(app, kind, other) {
  const { wallet } = app;
  const offer = kind === "offer";
  const dialog = h("dialog", { "aria-label": offer ? `Pay @${other}` : `Request from @${other}` });
  const close = () => { dialog.close(); dialog.remove(); };
  const amount = field("Amount", { inputmode: "decimal", autocomplete: "off", spellcheck: "false" }, `e.g. 12.50 (${wallet.node.default_currency}) or ${wallet.node.currencies.map((c) => c.code + ":5").join(", ")}`);
  const note = field("Note", { maxlength: 1000 });
  const expiry = field("Expires after", { options: EXPIRIES });
  expiry.input.value = "86400000";
  const saved = offer ? {} : await wallet.templates();
  const template = Object.keys(saved).length
    ? field("Template", { options: [["", "None"], ...Object.keys(saved).map((n) => [n, n])] })
    : null;
  template?.input.addEventListener("change", () => {
    const t = saved[template.input.value];
    if (!t) return;
    amount.input.value = t.amount;
    note.input.value = t.note;
    if (EXPIRIES.some(([ms]) => Number(ms) === t.expires_ms)) expiry.input.value = String(t.expires_ms);
  });
  const err = errorLine();
  const review = h("button", { type: "submit", text: "Review" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(review, err, async () => {
        const parsed = amountIn(wallet, amount);
        if (!parsed) return;
        if (offer) {
          const balances = await wallet.balances();
          const b = balances.find((x) => x.currency === parsed.currency);
          const available = b ? splitAmount(b.available)?.minor ?? 0n : 0n;
          if (parsed.minor > available) {
            amount.setError(`more than you have available (${b?.available ?? parsed.currency + ":0"})`);
            return;
          }
        }
        confirmStep(parsed, Number(expiry.input.value));
      });
    },
  }, h("h2", { text: offer ? `Pay @${other}` : `Request from @${other}` }), template, amount, note, expiry,
  h("div", { class: "row" }, review, h("button", { type: "button", class: "secondary", text: "Back", onclick: close })), err);

  function confirmStep(parsed, ttl) {
    const cErr = errorLine();
    const confirmButton = h("button", { type: "button", text: "Confirm" });
    const sentence = offer
      ? `Pay ${parsed.text} to @${other}. No fee. The money is held until @${other} accepts, and comes back if they decline or it expires.`
      : `Ask @${other} for ${parsed.text}. No fee.`;
    confirmButton.addEventListener("click", () => busy(confirmButton, cErr, async () => {
      const pending = wallet.payment(kind, other, parsed.text, note.input.value, Date.now() + ttl);
      pending.catch(() => {}); // awaited below
      close();
      await app.refresh();
      try {
        await pending;
      } catch (e) {
        app.flash(`${offer ? "Payment" : "Request"} not sent: ${e.message}`);
      }
      await app.refresh();
    }));
    mount(dialog, h("div", { role: "group", "aria-label": "Confirm" },
      h("h2", { text: "Confirm" }),
      h("dl", {}, h("dt", { text: "To" }), h("dd", { text: `@${other}` }), h("dt", { text: "Amount" }), h("dd", { text: parsed.text }),
        h("dt", { text: "Fee" }), h("dd", { text: "none" })),
      h("p", { text: sentence }),
      h("div", { class: "row" }, confirmButton, h("button", { type: "button", class: "secondary", text: "Back", onclick: close })), cErr));
    confirmButton.focus();
  }

  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();
}
