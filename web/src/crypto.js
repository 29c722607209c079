// Keys and sealing in the browser, on WebCrypto only: Ed25519 identity keys and X25519
// encryption keys live as non-extractable CryptoKeys (IndexedDB stores them as they are), and
// bodies are sealed with HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM) through @hpke/core. Seeds exist only while a key is made or restored: they
// are what a backup holds, in the CLI wallet's format, so one account works in both.

import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { b64decode, b64encode, concat, utf8 } from "./bytes.js";

const subtle = () => crypto.subtle;
const INFO = utf8("chit/v1/sealed-body");
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8 = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export const randomSeed = () => crypto.getRandomValues(new Uint8Array(32));

/**
 * The identity key of a 32-byte seed: `{privateKey, publicKey, public}` where the private key
 * is non-extractable and `public` is the key's base64url text, as chit-proto writes it.
 */
export async function identityFromSeed(seed) {
  const pkcs8 = concat(ED25519_PKCS8, seed);
  const once = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await subtle().exportKey("jwk", once);
  const privateKey = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  pkcs8.fill(0);
  const raw = b64decode(jwk.x);
  const publicKey = await subtle().importKey("raw", raw, { name: "Ed25519" }, true, ["verify"]);
  return { privateKey, publicKey, public: b64encode(raw) };
}

/** The encryption key of a seed, by HPKE DeriveKeyPair as chit-proto derives it. */
export async function encryptionFromSeed(seed) {
  const derived = await suite.kem.deriveKeyPair(seed.slice().buffer);
  const jwk = await subtle().exportKey("jwk", derived.privateKey);
  const privateKey = await subtle().importKey("jwk", jwk, { name: "X25519" }, false, ["deriveBits"]);
  jwk.d = "";
  const raw = new Uint8Array(await subtle().exportKey("raw", derived.publicKey));
  const publicKey = await subtle().importKey("raw", raw, { name: "X25519" }, true, []);
  return { privateKey, publicKey, public: b64encode(raw) };
}

/** The signing key an API token stands for (chit-proto `api_token_key`). */
export async function apiTokenKey(token) {
  const seed = new Uint8Array(await subtle().digest("SHA-256", utf8(`chit/v1/api-token\0${token}`)));
  const key = await identityFromSeed(seed);
  seed.fill(0);
  return key;
}

export async function sign(identity, bytes) {
  return b64encode(new Uint8Array(await subtle().sign({ name: "Ed25519" }, identity.privateKey, bytes)));
}

/** Whether `signature` (base64url) over `bytes` verifies under `key` (base64url). */
export async function verify(keyText, bytes, signature) {
  const raw = b64decode(keyText);
  const sig = b64decode(signature);
  if (!raw || raw.length !== 32 || !sig || sig.length !== 64) return false;
  try {
    const key = await subtle().importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    return await subtle().verify({ name: "Ed25519" }, key, sig, bytes);
  } catch {
    return false;
  }
}

/** Seals `plaintext` to each `{to, key}` (key: base64url X25519), bound to `aad`. */
export async function seal(plaintext, recipients, aad) {
  const out = [];
  for (const { to, key } of recipients) {
    const recipientPublicKey = await suite.kem.deserializePublicKey(b64decode(key).buffer);
    const { enc, ct } = await suite.seal({ recipientPublicKey, info: INFO }, plaintext, aad);
    out.push({ to, enc: b64encode(new Uint8Array(enc)), ct: b64encode(new Uint8Array(ct)) });
  }
  return { recipients: out };
}

/** Opens the copy of `body` sealed to `me` with the key pair `{privateKey, publicKey}`. */
export async function open(body, me, keyPair, aad) {
  const mine = body.recipients.find((r) => r.to === me);
  if (!mine) throw new Error(`the body is not sealed to @${me}`);
  const recipientKey = { privateKey: keyPair.privateKey, publicKey: keyPair.publicKey };
  const plain = await suite.open(
    { recipientKey, enc: b64decode(mine.enc).buffer, info: INFO },
    b64decode(mine.ct),
    aad,
  );
  return new Uint8Array(plain);
}

export { suite };
