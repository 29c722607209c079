// The canonical bytes every Chit signature covers (chit-proto `canon`): a domain tag, then each
// field length-prefixed (u32, big-endian). Never JSON: JSON has no one form.

import { concat, utf8 } from "./bytes.js";

export class Canon {
  constructor(tag) {
    this.parts = [];
    this.bytes(utf8(tag));
  }

  bytes(field) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, field.length);
    this.parts.push(len, field);
    return this;
  }

  str(field) {
    return this.bytes(utf8(field));
  }

  /** A u64 (a number of milliseconds, a count) as 8 big-endian bytes. */
  u64(field) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(field));
    return this.bytes(b);
  }

  optU64(field) {
    return field == null ? this.bytes(new Uint8Array([0])) : this.bytes(new Uint8Array([1])).u64(field);
  }

  optStr(field) {
    return field == null ? this.bytes(new Uint8Array([0])) : this.bytes(new Uint8Array([1])).str(field);
  }

  finish() {
    return concat(...this.parts);
  }
}
