// @hpke/core against RFC 9180's own test vector for the suite Chit uses (Appendix A.1:
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { hex } from "../../src/bytes.js";
import { suite } from "../../src/crypto.js";

const a1 = JSON.parse(readFileSync(new URL("../rfc9180-a1.json", import.meta.url)));
const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

test("RFC 9180 A.1: key derivation, encapsulation and the first three messages", async () => {
  const recipient = await suite.kem.deriveKeyPair(bytes(a1.ikmR).buffer);
  const pk = new Uint8Array(await suite.kem.serializePublicKey(recipient.publicKey));
  assert.equal(hex(pk), a1.pkRm);
  const sender = await suite.createSenderContext({
    recipientPublicKey: recipient.publicKey,
    info: bytes(a1.info),
    ekm: bytes(a1.ikmE).buffer,
  });
  assert.equal(hex(new Uint8Array(sender.enc)), a1.enc);
  const receiver = await suite.createRecipientContext({
    recipientKey: recipient,
    enc: bytes(a1.enc).buffer,
    info: bytes(a1.info),
  });
  for (const e of a1.encryptions) {
    const ct = new Uint8Array(await sender.seal(bytes(e.pt), bytes(e.aad)));
    assert.equal(hex(ct), e.ct);
    const pt = new Uint8Array(await receiver.open(bytes(e.ct), bytes(e.aad)));
    assert.equal(hex(pt), e.pt);
  }
});
