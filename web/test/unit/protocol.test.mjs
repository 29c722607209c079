// The browser's protocol code against the golden vectors the Rust side made
// (test/vectors.json, see crates/chit-client/tests/web_vectors.rs): the same canonical bytes,
// the same signatures, the same keys from the same seeds, the same amounts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { b64decode, b64encode, fromUtf8, hex, utf8 } from "../../src/bytes.js";
import { parseAmount } from "../../src/amount.js";
import { apiTokenKey, encryptionFromSeed, identityFromSeed, open, seal, sign, verify } from "../../src/crypto.js";
import { newId, isId } from "../../src/ids.js";
import * as st from "../../src/statements.js";

const v = JSON.parse(readFileSync(new URL("../vectors.json", import.meta.url)));
const seed = (text) => b64decode(text);

test("keys from the same seeds are the same keys", async () => {
  const id = await identityFromSeed(seed(v.keys.identity_seed));
  assert.equal(id.public, v.keys.identity_key);
  const enc = await encryptionFromSeed(seed(v.keys.encryption_seed));
  assert.equal(enc.public, v.keys.encryption_key);
  assert.equal(await st.fingerprint(v.keys.identity_key), v.keys.identity_fingerprint);
});

test("registration, login and every command sign the same bytes to the same signature", async () => {
  const alice = await identityFromSeed(seed(v.keys.identity_seed));
  const cases = [
    [st.registrationBytes(v.registration.registration), v.registration.signed],
    [st.loginBytes(v.login.handle, b64decode(v.login.challenge)), v.login.signed],
    ...v.commands.map((c) => [st.commandBytes(c.command), c]),
  ];
  assert.equal(v.commands.length, 15);
  for (const [bytes, want] of cases) {
    assert.equal(hex(bytes), want.bytes);
    assert.equal(await sign(alice, bytes), want.signature);
    assert.ok(await verify(alice.public, bytes, want.signature));
  }
});

test("certificates and receipts of both forms verify, and a changed field does not", async () => {
  const c = v.certificate;
  assert.ok(await verify(v.keys.node_key, st.certificateBytes(c), c.signature));
  assert.ok(!(await verify(v.keys.node_key, st.certificateBytes({ ...c, handle: "mallory" }), c.signature)));
  assert.equal(v.receipts.length, 3);
  for (const r of v.receipts) {
    assert.ok(await verify(v.keys.node_key, st.receiptBytes(r), r.signature), JSON.stringify(r));
    const altered = { ...r, amount: "EUR:99.00" };
    assert.ok(!(await verify(v.keys.node_key, st.receiptBytes(altered), r.signature)));
  }
  const paid = v.receipts[0];
  const reasoned = { ...paid, settlement: { ...paid.settlement, reason: "" } };
  assert.ok(!(await verify(v.keys.node_key, st.receiptBytes(reasoned), paid.signature)));
});

test("a body the Rust side sealed opens here, and one sealed here opens with the same keys", async () => {
  const s = v.sealed;
  const a = v.body_aad;
  const aad = st.bodyAad(a.message_id, a.conversation, a.sender);
  assert.equal(hex(aad), a.bytes);
  assert.equal(await st.bodyDigest(s.body), s.digest);
  const bob = await encryptionFromSeed(seed(s.bob_encryption_seed));
  assert.equal(fromUtf8(await open(s.body, "bob", bob, aad)), s.text);
  const alice = await encryptionFromSeed(seed(v.keys.encryption_seed));
  const mine = await seal(utf8("back at you"), [{ to: "alice", key: alice.public }, { to: "bob", key: bob.public }], aad);
  assert.equal(fromUtf8(await open(mine, "alice", alice, aad)), "back at you");
  await assert.rejects(open(mine, "bob", bob, st.bodyAad(a.message_id, a.conversation, "mallory")));
  await assert.rejects(open(mine, "carol", bob, aad), /not sealed to @carol/);
});

test("amounts read exactly as the CLI reads them", () => {
  const currencies = [
    { code: "EUR", decimals: 2 },
    { code: "JPY", decimals: 0 },
  ];
  for (const c of v.amounts) {
    if (c.canonical) {
      const a = parseAmount(c.input, currencies, "EUR");
      assert.equal(a.text, c.canonical, c.input);
      assert.equal(a.minor.toString(), c.minor, c.input);
    } else {
      assert.throws(() => parseAmount(c.input, currencies, "EUR"), { message: c.error }, c.input);
    }
  }
});

test("an API token stands for the same key as in chit-proto", async () => {
  assert.equal((await apiTokenKey(v.api_token.token)).public, v.api_token.key);
});

test("base64url is strict and ids are in their one written form", () => {
  for (const n of [0, 1, 2, 3, 31, 32, 33, 64]) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(b64decode(b64encode(bytes)), bytes);
  }
  assert.equal(b64decode("AB="), null);
  assert.equal(b64decode("AB+/"), null);
  assert.equal(b64decode("AB"), null, "leftover bits set");
  const id = newId(1_796_340_884_207);
  assert.ok(isId(id), id);
  assert.equal(parseInt(id.slice(0, 12), 16), 1_796_340_884_207);
  assert.ok(!isId(id.toUpperCase()) && !isId("0".repeat(32)) && !isId(id.slice(1)));
});
