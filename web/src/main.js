// Chit's web wallet: boots against the node that serves it, then shows the welcome screens or
// the wallet (Chats, Balance, Settings). Live updates come over /v1/events; a node that cannot
// be reached is a banner, never a blank page.

import { Api } from "./api.js";
import { Store } from "./store.js";
import { chatList } from "./ui/chats.js";
import { h, mount } from "./ui/h.js";
import { history } from "./ui/history.js";
import { money } from "./ui/money.js";
import { settings } from "./ui/settings.js";
import { thread } from "./ui/thread.js";
import { welcome } from "./ui/welcome.js";
import { Wallet } from "./wallet.js";

const root = document.getElementById("app");
const bannerEl = document.getElementById("banner");

const app = {
  wallet: null,
  view: "chats",
  conversation: null,
  current: null,
  side: null,
  refreshing: null,

  banner(text, kind = "error") {
    bannerEl.textContent = text ?? "";
    bannerEl.className = kind;
    bannerEl.hidden = !text;
  },

  flash(text) {
    this.banner(text, "error");
    setTimeout(() => this.banner(null), 6000);
  },

  show(...children) {
    this.current?.dispose?.();
    this.current = null;
    this.side = null;
    mount(root, children);
    root.setAttribute("aria-busy", "false");
    root.querySelector("h1, h2")?.setAttribute("tabindex", "-1");
  },

  /** The welcome screens (no session). */
  render() {
    this.show(welcome(this));
  },

  /** After a login: the wallet, live. */
  async enter() {
    await this.wallet.store.put("kv", false, "loggedOut");
    await this.wallet.sync().catch(() => {});
    this.wallet.listen((up) => this.banner(up ? null : "Connection to the node lost — reconnecting…"));
    this.wallet.onChange(() => this.scheduleRefresh());
    await this.draw();
  },

  scheduleRefresh() {
    clearTimeout(this.refreshing);
    this.refreshing = setTimeout(() => this.refresh(), 150);
  },

  /**
   * Brings the screen up to date when something arrives: only the parts that show what
   * arrived (the conversation list, the open thread, the balance), never a form someone may be
   * typing in. While the node is away the open thread still shows what it had and the outbox.
   */
  async refresh() {
    if (!this.wallet.api.token) return;
    const parts = [this.current, this.side].filter((p) => p?.refresh);
    for (const part of parts) {
      try {
        await part.refresh();
      } catch (e) {
        if (e.code !== "unreachable") this.banner(e.message);
      }
    }
  },

  async openConversation(id, other) {
    this.view = "chats";
    this.conversation = { id, other };
    await this.safely(() => this.draw());
  },

  /** Runs a redraw a person asked for; a node that is away is said in the banner. */
  async safely(work) {
    try {
      await work();
    } catch (e) {
      this.banner(e.code === "unreachable" ? "The node cannot be reached — try again in a moment." : e.message);
    }
  },

  /**
   * Draws the current view. Only the latest draw is shown (one the person asked for later
   * wins over one still loading), and the page says it is busy meanwhile.
   */
  async draw() {
    const token = (this.drawing = (this.drawing ?? 0) + 1);
    root.setAttribute("aria-busy", "true");
    const stale = () => token !== this.drawing;
    const nav = h("nav", { class: "tabs", "aria-label": "Wallet" },
      [["chats", "Chats"], ["money", "Balance"], ["history", "History"], ["settings", "Settings"]].map(([v, label]) => h("button", {
        type: "button",
        text: label,
        "aria-current": this.view === v ? "page" : "false",
        onclick: () => {
          this.view = v;
          this.safely(() => this.draw());
        },
      })));
    const logout = h("button", {
      type: "button",
      class: "secondary",
      text: "Log out",
      onclick: async () => {
        await this.wallet.logout();
        await this.wallet.store.put("kv", true, "loggedOut");
        this.render();
      },
    });
    const top = h("header", { class: "top" }, h("h1", { text: `Chit · @${this.wallet.handle}` }), logout);
    let body;
    if (this.view === "money") body = await money(this);
    else if (this.view === "history") body = await history(this);
    else if (this.view === "settings") body = await settings(this);
    else {
      const list = await chatList(this, this.conversation?.id);
      const side = h("div", { class: "side" }, list);
      const main = this.conversation
        ? await thread(this, this.conversation.id, this.conversation.other)
        : h("p", { class: "hint", text: "Choose a conversation, or start one by handle." });
      body = h("div", { class: this.conversation ? "layout open" : "layout" }, side, main);
      if (stale()) return main.dispose?.();
      this.show(top, nav, body);
      this.current = main;
      this.side = list;
      return;
    }
    if (stale()) return;
    this.show(top, nav, body);
    this.current = body;
  },
};

async function boot() {
  // WebCrypto (and so keys) exists only in a secure context.
  if (!window.isSecureContext || !crypto.subtle) {
    app.banner("Chit's wallet needs a secure page: open it over https, or over http on 127.0.0.1 or localhost.");
    root.setAttribute("aria-busy", "false");
    return;
  }
  let store;
  try {
    store = await Store.open();
  } catch {
    app.banner("This browser does not let Chit keep its keys (IndexedDB is unavailable, e.g. in a private window).");
    return;
  }
  const api = new Api("");
  api.onReachable = (up) => {
    if (!up) app.banner("The node cannot be reached. Retrying…");
  };
  const wallet = new Wallet(api, store);
  app.wallet = wallet;
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15000)) {
    try {
      await wallet.start();
      break;
    } catch (e) {
      if (e.code !== "unreachable") {
        app.banner(e.message);
        root.setAttribute("aria-busy", "false");
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  app.banner(null);
  const loggedOut = await store.get("kv", "loggedOut");
  if (wallet.account && !wallet.locked && !loggedOut) {
    try {
      await wallet.login();
      await app.enter();
      return;
    } catch {
      /* fall through to the welcome screen's Log in */
    }
  }
  app.render();
}

// The app shell stays available when the node does not answer (only in a secure context:
// https, or http on 127.0.0.1 / localhost).
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});

boot();
