// The first screens: register (availability checked as you type), restore a backup the CLI or
// this page made, or log in with the keys this browser keeps. After registering, the new keys
// are offered as a backup the CLI can restore (`chit key import`), then only non-extractable
// copies stay here.

import { Wallet } from "../wallet.js";
import { busy, download, errorLine, field, h } from "./h.js";

export function welcome(app) {
  const { wallet } = app;
  const root = h("section", { "aria-labelledby": "welcome-title" });
  const title = h("h1", { id: "welcome-title", text: "Chit" });
  const intro = h("p", {
    text: "Chat and pay in one conversation. Your keys are made and kept in this browser; the node cannot read your messages.",
  });
  const parts = [title, intro];
  if (wallet.locked) parts.push(unlockCard(app));
  else if (wallet.account) parts.push(loginCard(app));
  parts.push(registerCard(app), restoreCard(app));
  root.append(...parts);
  return root;
}

function loginCard(app) {
  const { wallet } = app;
  const err = errorLine();
  const button = h("button", {
    type: "button",
    text: "Log in",
    onclick: () => busy(button, err, async () => {
      await wallet.login();
      await app.enter();
    }),
  });
  const forget = h("button", {
    type: "button",
    class: "danger",
    text: "Remove this account from this browser",
    onclick: () => busy(forget, err, async () => {
      if (!confirm(`Remove the keys of @${wallet.handle} from this browser? Without a backup they are gone.`)) return;
      await wallet.logout(true);
      app.render();
    }),
  });
  return h("div", { class: "card" }, h("h2", { text: `Welcome back, @${wallet.handle}` }), h("div", { class: "row" }, button, forget), err);
}

/** A wallet kept only sealed in this browser: the passphrase opens it for this visit. */
function unlockCard(app) {
  const { wallet } = app;
  const pass = field("Passphrase", { type: "password", autocomplete: "current-password" });
  const err = errorLine();
  const button = h("button", { type: "submit", text: "Unlock" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(button, err, async () => {
        button.textContent = "Unlocking…";
        try {
          await wallet.unlock(pass.input.value);
        } finally {
          button.textContent = "Unlock";
        }
        await app.enter();
      });
    },
  }, pass, button, err);
  return h("div", { class: "card" }, h("h2", { text: `@${wallet.handle} is locked` }),
    h("p", { class: "hint", text: "This wallet is locked with a passphrase on this computer." }), form);
}

function registerCard(app) {
  const { wallet } = app;
  const handle = field("Handle", { autocomplete: "username", spellcheck: "false", autocapitalize: "none" }, "3 to 32 letters, digits or _ . -, starting with a letter");
  const status = h("p", { class: "hint", "aria-live": "polite" });
  const err = errorLine();
  let timer;
  let asked = "";
  handle.input.addEventListener("input", () => {
    clearTimeout(timer);
    const name = Wallet.normalHandle(handle.input.value);
    handle.setError(null);
    status.textContent = "";
    if (!handle.input.value) return;
    if (!name) {
      handle.setError(Wallet.checkHandle(handle.input.value));
      return;
    }
    timer = setTimeout(async () => {
      asked = name;
      status.textContent = `checking @${name}…`;
      const free = await wallet.handleAvailable(name);
      if (asked !== name) return;
      if (free === true) status.textContent = `@${name} is available`;
      else if (free === false) {
        status.textContent = "";
        handle.setError(`@${name} is taken`);
      } else status.textContent = "";
    }, 350);
  });
  const button = h("button", { type: "submit", text: "Register" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(button, err, async () => {
        const name = Wallet.normalHandle(handle.input.value);
        if (!name) {
          handle.setError(Wallet.checkHandle(handle.input.value));
          return;
        }
        await wallet.register(name);
        app.show(backupOffer(app));
      });
    },
  }, handle, status, button, err);
  return h("div", { class: "card" }, h("h2", { text: "New account" }), form);
}

/** After registering: the new keys, wrapped once with a passphrase, for the CLI or another browser. */
function backupOffer(app) {
  const { wallet } = app;
  const pass = field("Backup passphrase", { type: "password", autocomplete: "new-password" }, "At least 10 characters. It cannot be recovered: keep it safe.");
  const again = field("The same passphrase again", { type: "password", autocomplete: "new-password" });
  const lock = h("input", { type: "checkbox", id: "lock-new" });
  const lockRow = h("div", { class: "row" }, lock, h("label", { for: "lock-new", text: "Lock this wallet on this computer with the passphrase (for a shared computer)" }));
  const err = errorLine();
  const save = h("button", { type: "submit", text: "Save backup" });
  const skip = h("button", {
    type: "button",
    class: "secondary",
    text: "Skip",
    onclick: () => {
      wallet.dropNewKeys();
      app.safely(() => app.enter());
    },
  });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(save, err, async () => {
        if (pass.input.value !== again.input.value) throw new Error("the two passphrases differ");
        save.textContent = "Sealing the backup…";
        try {
          const backup = await wallet.backupNewKeys(pass.input.value, lock.checked);
          download(`chit-${wallet.handle}.backup.json`, "application/json", JSON.stringify(backup, null, 2) + "\n");
        } finally {
          save.textContent = "Save backup";
        }
        await app.enter();
      });
    },
  }, pass, again, lockRow, h("div", { class: "row" }, save, skip), err);
  return h("section", { class: "card", "aria-labelledby": "backup-title" },
    h("h1", { id: "backup-title", text: `@${wallet.handle} is yours` }),
    h("p", { text: "Save a backup of your keys now: with it you can restore this account in another browser or in the chit command-line wallet (chit key import). After this, the keys stay in this browser only, where even this page cannot read them out." }),
    form);
}

function restoreCard(app) {
  const { wallet } = app;
  const file = field("Backup file", { type: "file", accept: ".json,application/json" });
  const text = field("Or paste the backup", { multiline: true, rows: 3, spellcheck: "false" });
  const pass = field("Passphrase of the backup", { type: "password", autocomplete: "current-password" });
  const lock = h("input", { type: "checkbox", id: "lock-restored" });
  const lockRow = h("div", { class: "row" }, lock, h("label", { for: "lock-restored", text: "Keep it locked on this computer with this passphrase" }));
  const err = errorLine();
  const button = h("button", { type: "submit", text: "Restore" });
  const form = h("form", {
    onsubmit: (e) => {
      e.preventDefault();
      busy(button, err, async () => {
        const chosen = file.input.files?.[0];
        const backup = chosen ? await chosen.text() : text.input.value.trim();
        if (!backup) throw new Error("choose a backup file or paste one");
        button.textContent = "Opening the backup…";
        try {
          await wallet.restore(backup, pass.input.value, lock.checked);
        } finally {
          button.textContent = "Restore";
        }
        await app.enter();
      });
    },
  }, file, text, pass, lockRow, button, err);
  return h("div", { class: "card" }, h("h2", { text: "Restore from a backup" }), h("p", { class: "hint", text: "A backup from chit key export, or one this page saved." }), form);
}
