// Command ids: 48 bits of Unix milliseconds then 80 random bits, 32 lowercase hex digits
// (chit-proto `CommandId::new`). Ids made later sort later; a retry reuses its id.

import { hex } from "./bytes.js";

const ID = /^[0-9a-f]{32}$/;

export function newId(nowMs = Date.now()) {
  const random = crypto.getRandomValues(new Uint8Array(10));
  const time = BigInt(nowMs) & ((1n << 48n) - 1n);
  return time.toString(16).padStart(12, "0") + hex(random);
}

/** An id in its one written form (zero and all-f are reserved by the ledger). */
export const isId = (text) => ID.test(text) && !/^0+$/.test(text) && !/^f+$/.test(text);

/** The short form people see and type: the last eight digits. */
export const shortId = (id) => id.slice(-8);
