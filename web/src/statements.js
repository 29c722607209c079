// The signed statements of chit-proto, byte for byte: what a wallet signs (registration, login,
// commands) and what it verifies from the node (certificates, receipts). The golden vectors
// in test/vectors.json are made by the Rust side and checked against these functions.

import { b64decode, b64encode, sha256 } from "./bytes.js";
import { Canon } from "./canon.js";

const key = (text) => {
  const bytes = b64decode(text);
  if (!bytes || bytes.length !== 32) throw new Error("a key is 32 bytes of base64url");
  return bytes;
};

export function registrationBytes(r) {
  return new Canon("chit/v1/registration")
    .str(r.handle)
    .bytes(key(r.identity_key))
    .bytes(key(r.encryption_key))
    .u64(r.created_at_ms)
    .finish();
}

export function certificateBytes(c) {
  return new Canon("chit/v1/certificate")
    .str(c.handle)
    .bytes(key(c.identity_key))
    .bytes(key(c.encryption_key))
    .u64(c.issued_at_ms)
    .bytes(key(c.node_key))
    .finish();
}

export function loginBytes(handle, challenge) {
  return new Canon("chit/v1/login").str(handle).bytes(challenge).finish();
}

/** The bytes of a `Command` ({id, actor, action: {type, …}}) as chit-proto signs them. */
export function commandBytes(command) {
  const c = new Canon("chit/v1/command").str(command.id).str(command.actor);
  const a = command.action;
  switch (a.type) {
    case "say":
      return c.str("say").str(a.to).str(a.body_digest).finish();
    case "offer":
    case "request":
      return c.str(a.type).str(a.to).str(a.amount).u64(a.expires_at_ms).str(a.body_digest).finish();
    case "accept":
    case "decline":
    case "cancel":
    case "reject":
    case "refund":
      return c.str(a.type).str(a.message).finish();
    case "pay":
      return c.str("pay").str(a.message).optU64(a.at_ms ?? null).finish();
    case "top_up":
    case "cash_out":
      return c.str(a.type).str(a.rail).str(a.amount).finish();
    case "link":
      return c.str("link").str(a.rail).str(a.reference).finish();
    case "grant":
      c.str("grant").bytes(key(a.key)).u64(a.scope.length);
      for (const s of a.scope) c.str(s);
      return c.u64(a.expires_at_ms).str(a.label).finish();
    case "revoke":
      return c.str("revoke").bytes(key(a.key)).finish();
    default:
      throw new Error(`unknown action ${a.type}`);
  }
}

/** A receipt's signed bytes: the second form when it carries a settlement, else the first. */
export function receiptBytes(r) {
  const s = r.settlement;
  const c = new Canon(s ? "chit/v2/receipt" : "chit/v1/receipt")
    .str(r.transfer_id)
    .str(r.payer)
    .str(r.payee)
    .str(r.amount)
    .u64(r.time_ms)
    .str(r.message_id)
    .str(r.body_digest);
  if (s) {
    c.str(s.kind).str(s.outcome).optStr(s.reason ?? null).u64(s.transfers.length);
    for (const t of s.transfers) c.str(t);
  }
  return c.finish();
}

/** The associated data a body is sealed under: it binds the body to its message. */
export function bodyAad(messageId, conversation, sender) {
  return new Canon("chit/v1/body-aad").str(messageId).str(conversation).str(sender).finish();
}

/** The direct conversation of two handles, the same whoever starts it. */
export const directConversation = (a, b) => (a <= b ? `direct:${a}:${b}` : `direct:${b}:${a}`);

/** SHA-256 over every sealed copy, base64url: what a command's `body_digest` names. */
export async function bodyDigest(body) {
  const c = new Canon("chit/v1/sealed-body");
  for (const r of body.recipients) c.str(r.to).bytes(b64decode(r.enc)).bytes(b64decode(r.ct));
  return b64encode(await sha256(c.finish()));
}

/** A key's fingerprint as people compare it: SHA-256, first 16 bytes, hex in groups of four. */
export async function fingerprint(keyText) {
  const d = await sha256(key(keyText));
  const groups = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(d[i].toString(16).padStart(2, "0") + d[i + 1].toString(16).padStart(2, "0"));
  }
  return groups.join(":");
}

