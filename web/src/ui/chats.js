// The conversation list (the other party, the last message, unread count, newest first), a new
// conversation by handle with the person's key fingerprint shown before anything is sent, and
// my handle as a chit:// URI and QR code.

import qrcode from "qrcode-generator";
import { directConversation } from "../statements.js";
import { Wallet } from "../wallet.js";
import { busy, errorLine, field, h, mount, when } from "./h.js";

/** The URI of a handle on a node: what the QR code holds. */
export const handleUri = (handle, origin) => `chit://user/${handle}?node=${encodeURIComponent(origin)}`;

export async function chatList(app, selected) {
  const holder = h("div", {});
  async function refresh() {
    mount(holder, await conversationItems(app, selected));
  }
  await refresh();
  const root = h("div", {}, h("h2", { text: "Conversations" }), holder, newConversation(app), myQr(app));
  root.refresh = refresh;
  return root;
}

/** The list itself: redrawn when something arrives, without touching the forms below it. */
async function conversationItems(app, selected) {
  const { wallet } = app;
  const conversations = await wallet.conversations();
  const me = wallet.handle;
  const items = [];
  for (const c of conversations) {
    const other = c.members.find((m) => m !== me) ?? me;
    const last = c.last;
    let preview;
    if (last.kind === "text") preview = (await wallet.openText(last)) ?? "(sealed)";
    else if (last.payment) preview = `${last.kind === "payment_update" ? last.payment.state : last.kind} · ${last.payment.amount}`;
    const unread = c.unread > 0 ? h("span", { class: "unread", "aria-label": `${c.unread} unread`, text: String(c.unread) }) : null;
    const button = h("button", {
      type: "button",
      "aria-current": c.id === selected ? "true" : "false",
      onclick: () => app.openConversation(c.id, other),
    }, h("span", { class: "who", text: other === me ? "@" + me + " (you)" : "@" + other }), unread,
    h("span", { class: "last", text: `${preview ?? ""} · ${when(last.time_ms)}` }));
    items.push(h("li", {}, button));
  }
  return items.length
    ? h("ul", { class: "conversations", "aria-label": "Conversations" }, items)
    : h("p", { class: "hint", text: "No conversations yet: start one with a handle below." });
}

function newConversation(app) {
  const { wallet } = app;
  const who = field("Handle", { autocomplete: "off", spellcheck: "false", autocapitalize: "none", placeholder: "@friend" });
  const found = h("div", { "aria-live": "polite" });
  const err = errorLine();
  const find = h("button", { type: "submit", text: "Find" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(find, err, async () => {
        found.replaceChildren();
        const handle = Wallet.normalHandle(who.input.value);
        if (!handle) throw new Error(Wallet.checkHandle(who.input.value));
        const info = await wallet.user(handle).catch((x) => {
          throw x.code === "unknown_handle" ? new Error(`there is no @${handle} on this node`) : x;
        });
        const open = h("button", { type: "button", text: "Open conversation", onclick: () => app.openConversation(directConversation(wallet.handle, handle), handle) });
        found.append(h("p", {}, `@${handle} — key fingerprint `, h("code", { text: info.fingerprint })),
          h("p", { class: "hint", text: "Compare the fingerprint with the one your contact sees, to know it is them." }), open);
      });
    },
  }, who, find, err);
  return h("div", { class: "card" }, h("h2", { text: "New conversation" }), form, found);
}

function myQr(app) {
  const uri = handleUri(app.wallet.handle, location.origin);
  const qr = qrcode(0, "M");
  qr.addData(uri);
  qr.make();
  const svg = new DOMParser().parseFromString(qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true, alt: `QR code of ${uri}` }), "image/svg+xml").documentElement;
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `QR code of ${uri}`);
  return h("details", { class: "card" }, h("summary", { text: "My QR code" }),
    h("div", { class: "qr" }, document.importNode(svg, true)), h("p", {}, h("code", { text: uri })));
}
