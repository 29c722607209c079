// The web wallet: the same account, flows and checks as the `chit` CLI wallet (chit-client),
// in the browser. The node key is pinned on first contact and every certificate and receipt is
// verified against it; bodies are sealed here to both members before they leave; commands are
// signed here and kept in the outbox until the node acknowledges them, then retried with the
// same id, so nothing is shown as sent or paid before the node said so.

import { parseAmount } from "./amount.js";
import { exportBackup, openBackup } from "./backup.js";
import { b64decode, b64encode, fromUtf8, utf8 } from "./bytes.js";
import { apiTokenKey, encryptionFromSeed, identityFromSeed, open, randomSeed, seal, sign, verify } from "./crypto.js";
import { newId } from "./ids.js";
import * as st from "./statements.js";

const MAILBOX_PAGE = 500;
const STATEMENT_PAGE = 500;
const HANDLE = /^[a-z][a-z0-9_.-]{2,31}$/;

export class WalletError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Wallet {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.account = null;
    /** The keys in use: `{identity, encryption}` (non-extractable), null while locked. */
    this.keys = null;
    this.node = null;
    this.users = new Map();
    this.listeners = new Set();
    this.pendingKeys = null;
  }

  /** Reads the node's info and the stored account (if this browser has one). */
  async start() {
    this.node = await this.api.get("/v1/node");
    this.account = (await this.store.get("kv", "account")) ?? null;
    if (this.account?.identity) {
      this.keys = { identity: this.account.identity, encryption: this.account.encryption };
    }
    if (this.account && this.account.nodeKey !== this.node.node_key) {
      throw new WalletError(
        "node_key_changed",
        `this node's key (${this.node.fingerprint}) is not the one this wallet pinned: it may be another node pretending to be yours`,
      );
    }
  }

  currencies() {
    return this.node.currencies;
  }

  /** Strict amount reading, as the CLI: errors are for the person who typed it. */
  amount(text) {
    return parseAmount(text, this.node.currencies, this.node.default_currency);
  }

  onChange(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  changed(what) {
    for (const f of this.listeners) f(what);
  }

  /** A handle as chit-proto reads it (`@Alice` is `alice`), or null. */
  static normalHandle(text) {
    const bare = String(text).trim().replace(/^@/, "").toLowerCase();
    return HANDLE.test(bare) ? bare : null;
  }

  static checkHandle(handle) {
    return Wallet.normalHandle(handle)
      ? null
      : "a handle is 3 to 32 letters, digits or _ . -, starting with a letter";
  }

  /** Whether `handle` is free on this node: `true`, `false`, or null if it cannot be told. */
  async handleAvailable(handle) {
    try {
      await this.api.get(`/v1/users/${encodeURIComponent(handle)}`);
      return false;
    } catch (e) {
      if (e.code === "unknown_handle" || e.status === 404) return true;
      return null;
    }
  }

  /** Makes keys here, registers them, and pins the node key that certified them. */
  async register(handle) {
    const problem = Wallet.checkHandle(handle);
    if (problem) throw new WalletError("bad_handle", problem);
    const seeds = { identity: randomSeed(), encryption: randomSeed() };
    const identity = await identityFromSeed(seeds.identity);
    const encryption = await encryptionFromSeed(seeds.encryption);
    const registration = {
      handle,
      identity_key: identity.public,
      encryption_key: encryption.public,
      created_at_ms: Date.now(),
    };
    const signature = await sign(identity, st.registrationBytes(registration));
    const { certificate } = await this.api.post("/v1/register", { registration, signature });
    await this.checkCertificate(certificate, handle, identity.public, encryption.public);
    // Kept in memory only, until the person saves a backup or says no.
    this.pendingKeys = {
      handle,
      node_url: location.origin,
      node_key: this.node.node_key,
      identity_seed: b64encode(seeds.identity),
      encryption_seed: b64encode(seeds.encryption),
    };
    seeds.identity.fill(0);
    seeds.encryption.fill(0);
    await this.saveAccount(handle, identity, encryption);
    await this.login();
  }

  /**
   * A backup of the keys just made, in the CLI's format; after it the seeds are dropped. With
   * `lock`, this browser keeps only that backup (no usable key) and asks for the passphrase
   * each time the wallet is opened: for a shared computer.
   */
  async backupNewKeys(passphrase, lock = false) {
    if (!this.pendingKeys) throw new WalletError("no_keys", "the keys were already backed up or dropped");
    const backup = await exportBackup(this.pendingKeys, passphrase);
    this.pendingKeys = null;
    if (lock) await this.keepLocked(backup);
    return backup;
  }

  /** Whether this browser holds the account only sealed, and it is not open now. */
  get locked() {
    return Boolean(this.account) && !this.keys;
  }

  /** Stores only the sealed backup; the keys stay in memory until log out. */
  async keepLocked(backup) {
    const { handle, nodeKey, cursor } = this.account;
    this.account = { handle, nodeKey, cursor, sealed: backup };
    await this.store.put("kv", this.account, "account");
  }

  /** Opens a locked wallet with its passphrase, for this visit only. */
  async unlock(passphrase) {
    const keys = await openBackup(this.account.sealed, passphrase);
    const identity = await identityFromSeed(b64decode(keys.identity_seed));
    const encryption = await encryptionFromSeed(b64decode(keys.encryption_seed));
    keys.identity_seed = keys.encryption_seed = "";
    this.keys = { identity, encryption };
    await this.login();
  }

  dropNewKeys() {
    this.pendingKeys = null;
  }

  /** Restores an account from a backup (`chit key export`) as non-extractable keys. */
  async restore(backupText, passphrase, lock = false) {
    const keys = await openBackup(backupText, passphrase);
    if (keys.node_key !== this.node.node_key) {
      throw new WalletError("other_node", `this backup is of an account on another node (${keys.node_url})`);
    }
    const identity = await identityFromSeed(b64decode(keys.identity_seed));
    const encryption = await encryptionFromSeed(b64decode(keys.encryption_seed));
    keys.identity_seed = "";
    keys.encryption_seed = "";
    const info = await this.api.get(`/v1/users/${encodeURIComponent(keys.handle)}`);
    await this.checkCertificate(info.certificate, keys.handle, identity.public, encryption.public);
    await this.saveAccount(keys.handle, identity, encryption);
    if (lock) await this.keepLocked(typeof backupText === "string" ? JSON.parse(backupText) : backupText);
    await this.login();
  }

  async saveAccount(handle, identity, encryption) {
    this.keys = { identity, encryption };
    this.account = { handle, nodeKey: this.node.node_key, identity, encryption, cursor: 0 };
    await this.store.put("kv", this.account, "account");
  }

  async checkCertificate(cert, handle, identityKey, encryptionKey) {
    const ok =
      cert.handle === handle &&
      cert.node_key === this.node.node_key &&
      (identityKey === undefined || cert.identity_key === identityKey) &&
      (encryptionKey === undefined || cert.encryption_key === encryptionKey) &&
      (await verify(this.node.node_key, st.certificateBytes(cert), cert.signature));
    if (!ok) {
      throw new WalletError("untrusted", `the certificate of @${handle} is not signed by the pinned node key`);
    }
  }

  get handle() {
    return this.account?.handle;
  }

  /** Logs in with a signed challenge; the token lives in memory only. */
  async login() {
    const handle = this.account.handle;
    const { challenge } = await this.api.post("/v1/login/challenge", { handle });
    const bytes = b64decode(challenge);
    if (!bytes) throw new WalletError("untrusted", "the node's challenge is not base64url");
    const signature = await sign(this.keys.identity, st.loginBytes(handle, bytes));
    const session = await this.api.post("/v1/login", { handle, challenge, signature });
    this.api.token = session.token;
  }

  /** Ends the session here; `forget` also removes the keys from this browser. */
  async logout(forget = false) {
    this.api.token = null;
    this.closeEvents();
    // A locked wallet closes again: its keys were only in memory.
    if (this.account?.sealed) this.keys = null;
    if (forget) {
      await this.store.clear();
      this.account = null;
      this.keys = null;
    }
  }

  /** Another user's keys, their certificate checked against the pinned node key. */
  async user(handle) {
    const known = this.users.get(handle);
    if (known) return known;
    const info = await this.api.get(`/v1/users/${encodeURIComponent(handle)}`);
    await this.checkCertificate(info.certificate, handle);
    if (info.certificate.encryption_key !== info.encryption_key || info.certificate.identity_key !== info.identity_key) {
      throw new WalletError("untrusted", `the keys of @${handle} do not match their certificate`);
    }
    info.fingerprint = await st.fingerprint(info.identity_key);
    this.users.set(handle, info);
    return info;
  }

  async sealFor(to, id, plaintext) {
    const me = this.account.handle;
    const them = await this.user(to);
    const conversation = st.directConversation(me, to);
    const recipients = [{ to: me, key: this.keys.encryption.public }];
    if (to !== me) recipients.push({ to, key: them.encryption_key });
    return seal(plaintext, recipients, st.bodyAad(id, conversation, me));
  }

  async signed(action, id = newId()) {
    const command = { id, actor: this.account.handle, action };
    return { command, signature: await sign(this.keys.identity, st.commandBytes(command)) };
  }

  /** Sends a text to `to`. */
  async say(to, text) {
    const id = newId();
    const body = await this.sealFor(to, id, utf8(text));
    const { command, signature } = await this.signed({ type: "say", to, body_digest: await st.bodyDigest(body) }, id);
    return this.send({ id, path: "/v1/messages", body: { command, signature, body }, to, kind: "text", text });
  }

  /** An offer (`offer`) or a request (`request`) of `amountText` with a note. */
  async payment(kind, to, amountText, note, expiresAtMs) {
    const amount = this.amount(amountText);
    const id = newId();
    const body = await this.sealFor(to, id, utf8(note));
    const action = {
      type: kind,
      to,
      amount: amount.text,
      expires_at_ms: expiresAtMs,
      body_digest: await st.bodyDigest(body),
    };
    const { command, signature } = await this.signed(action, id);
    const path = kind === "offer" ? "/v1/offers" : "/v1/requests";
    return this.send({ id, path, body: { command, signature, body }, to, kind, text: note, amount: amount.text });
  }

  /** Posts an outbox item; it stays in the outbox until the node answers it. */
  async send(item) {
    const entry = { ...item, state: "sending", createdAt: Date.now() };
    await this.store.put("outbox", entry);
    this.changed("outbox");
    return this.flushOne(entry);
  }

  async flushOne(entry) {
    try {
      const envelope = await this.api.post(entry.path, entry.body);
      await this.store.delete("outbox", entry.id);
      await this.keep({ cursor: 0, message: envelope });
      this.changed("messages");
      return envelope;
    } catch (e) {
      if (e.code === "unreachable" || e.status >= 500 || e.status === 429) {
        this.changed("outbox");
        throw e; // kept: retried with the same id when the node is back
      }
      await this.store.delete("outbox", entry.id);
      this.changed("outbox");
      throw e;
    }
  }

  /** Retries what the node has not acknowledged, with the same ids. */
  async flushOutbox() {
    for (const entry of await this.store.all("outbox")) {
      try {
        await this.flushOne(entry);
      } catch (e) {
        if (e.code === "unreachable") return;
      }
    }
  }

  outbox() {
    return this.store.all("outbox");
  }

  /** A decision on a payment: accept, decline, cancel, pay (now or at `atMs`), reject, refund. */
  /**
   * A decision on a payment with `other`: accept, decline, cancel, pay (now or at `atMs`),
   * reject, refund. Like a message, it waits in the outbox until the node answers, and is sent
   * again with the same id if the node was away (a decision applies once whatever the retries).
   */
  async decide(type, payment, atMs, other, amount) {
    const action = type === "pay" ? { type, message: payment, at_ms: atMs ?? null } : { type, message: payment };
    const signed = await this.signed(action);
    const words = { accept: "Accepting", decline: "Declining", cancel: "Cancelling", pay: atMs ? "Scheduling" : "Paying", reject: "Rejecting", refund: "Refunding" };
    return this.send({
      id: signed.command.id,
      path: "/v1/commands",
      body: signed,
      to: other,
      kind: "decision",
      payment,
      text: `${words[type] ?? type} ${amount ?? ""}`.trim(),
    });
  }

  async balances() {
    return (await this.api.get("/v1/balance")).balances;
  }

  /** Money in (`top_up`) or out (`cash_out`) on the sandbox rail. */
  async fund(type, amountText) {
    const amount = this.amount(amountText);
    return this.api.post("/v1/commands", await this.signed({ type, rail: "sandbox", amount: amount.text }));
  }

  /** Links a sandbox account (the rail checks the IBAN before it is stored). */
  async link(iban) {
    return this.api.post("/v1/commands", await this.signed({ type: "link", rail: "sandbox", reference: iban.replace(/\s+/g, "") }));
  }

  async settings() {
    return this.api.get("/v1/settings");
  }

  async setAutoAccept(mode) {
    return this.api.post("/v1/settings", { auto_accept: mode });
  }

  /** Invoice templates, kept in this browser only (their notes are private). */
  async templates() {
    return (await this.store.get("kv", "templates")) ?? {};
  }

  async saveTemplate(name, template) {
    const all = await this.templates();
    all[name] = template;
    await this.store.put("kv", all, "templates");
  }

  async removeTemplate(name) {
    const all = await this.templates();
    delete all[name];
    await this.store.put("kv", all, "templates");
  }

  async apiKeys() {
    return (await this.api.get("/v1/keys")).keys;
  }

  async revokeKey(key) {
    return this.api.post("/v1/commands", await this.signed({ type: "revoke", key }));
  }

  /**
   * A new API token (`chit_` and 32 random bytes), granted `scope` until `expiresAtMs`. The
   * node is given only the key derived from it (chit-proto `api_token_key`); the token is
   * returned to be shown once.
   */
  async createToken(label, scope, expiresAtMs) {
    const token = `chit_${b64encode(crypto.getRandomValues(new Uint8Array(32)))}`;
    const key = (await apiTokenKey(token)).public;
    await this.api.post("/v1/commands", await this.signed({ type: "grant", key, scope, expires_at_ms: expiresAtMs, label }));
    return token;
  }

  async conversations() {
    return (await this.api.get("/v1/conversations?limit=100")).conversations;
  }

  async thread(id) {
    return this.api.get(`/v1/conversations/${encodeURIComponent(id)}/messages?limit=200`);
  }

  async markRead(id, seq) {
    return this.api.post(`/v1/conversations/${encodeURIComponent(id)}/read`, { seq });
  }

  /**
   * Fetches every statement entry not yet kept, per currency the node serves; all are kept, from
   * the first, so the balance after each line is known (as the CLI wallet keeps them).
   */
  async syncStatements() {
    const statements = (await this.store.get("kv", "statements")) ?? {};
    for (const { code } of this.node.currencies) {
      const entries = (statements[code] ??= []);
      for (;;) {
        const q = new URLSearchParams({ limit: String(STATEMENT_PAGE), currency: code });
        const last = entries.at(-1);
        if (last) q.set("after", String(last.cursor));
        const page = await this.api.get(`/v1/statement?${q}`);
        entries.push(...page.entries);
        if (page.entries.length < STATEMENT_PAGE) break;
      }
    }
    await this.store.put("kv", statements, "statements");
    return statements;
  }

  /**
   * Keeps a delivery, once per message id; one from the mailbox (with its cursor) replaces the
   * copy kept from a POST's answer, in one transaction, whichever arrives first.
   */
  async keep(delivery) {
    await this.store.update("messages", delivery.message.id, (known) =>
      !known || (delivery.cursor && !known.cursor) ? delivery : undefined);
  }

  /** Fetches the mailbox after the stored cursor (after a reconnect or a reload). */
  async sync() {
    for (;;) {
      const after = this.account.cursor ?? 0;
      const { items } = await this.api.get(`/v1/mailbox?after=${after}&limit=${MAILBOX_PAGE}`);
      for (const d of items) await this.keep(d);
      if (items.length > 0) {
        this.account.cursor = items[items.length - 1].cursor;
        await this.store.put("kv", this.account, "account");
        this.changed("messages");
      }
      if (items.length < MAILBOX_PAGE) return;
    }
  }

  async messages() {
    return this.store.all("messages");
  }

  /** The text of a message's sealed body, or null if it does not open. */
  async openText(envelope) {
    if (!envelope.body?.recipients?.length) return null;
    try {
      const aad = st.bodyAad(envelope.id, envelope.conversation, envelope.sender);
      return fromUtf8(await open(envelope.body, this.account.handle, this.keys.encryption, aad));
    } catch {
      return null;
    }
  }

  /** Whether a receipt is signed by the pinned node key. */
  async receiptValid(receipt) {
    return verify(this.node.node_key, st.receiptBytes(receipt), receipt.signature);
  }

  /** Live updates, reconnecting with back-off; each reconnect catches up from the cursor. */
  listen(onStatus) {
    this.closeEvents();
    let delay = 500;
    let stopped = false;
    const connect = () => {
      if (stopped || !this.api.token) return;
      const socket = new WebSocket(this.api.socketUrl("/v1/events"));
      this.socket = socket;
      socket.onopen = async () => {
        delay = 500;
        onStatus(true);
        try {
          await this.sync();
          await this.flushOutbox();
        } catch {
          /* the next event or reconnect tries again */
        }
      };
      socket.onmessage = async (event) => {
        try {
          const frame = JSON.parse(event.data);
          if (frame.resync) return await this.sync();
          await this.keep(frame);
          // Only a cursor that follows the last one moves it: a gap is caught up by sync.
          if (frame.cursor === (this.account.cursor ?? 0) + 1) {
            this.account.cursor = frame.cursor;
            await this.store.put("kv", this.account, "account");
          } else if (frame.cursor > (this.account.cursor ?? 0)) {
            await this.sync();
          }
          this.changed("messages");
        } catch {
          /* the node went away mid-way: the reconnect catches up */
        }
      };
      socket.onclose = async () => {
        if (stopped) return;
        onStatus(false);
        // The session may have ended with the node (a restart): log in again when it is back.
        setTimeout(async () => {
          try {
            await this.login();
          } catch {
            /* still down */
          }
          connect();
        }, delay);
        delay = Math.min(delay * 2, 15_000);
      };
    };
    this.stopEvents = () => {
      stopped = true;
      this.socket?.close();
    };
    connect();
  }

  closeEvents() {
    this.stopEvents?.();
    this.stopEvents = null;
  }
}

