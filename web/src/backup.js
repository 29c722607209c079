// Key backups in the CLI wallet's format (`chit key export` / `chit key import`,
// chit-client `backup`): the keys file sealed with ChaCha20-Poly1305 under a key Argon2id makes
// from the passphrase, the clear fields bound as associated data. @noble/hashes and
// @noble/ciphers do the cryptography; this file only lays out the bytes.

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { argon2idAsync } from "@noble/hashes/argon2.js";
import { b64decode, b64encode, fromUtf8, utf8 } from "./bytes.js";
import { Canon } from "./canon.js";

export const BACKUP_FORMAT = "chit-wallet-backup/1";
export const PASSPHRASE_CHARS_MIN = 10;
const KDF = { algorithm: "argon2id", memory_kib: 64 * 1024, passes: 3, parallelism: 1 };
const KDF_MEMORY_KIB_MAX = 1024 * 1024;
const KDF_PASSES_MAX = 16;

export class BackupError extends Error {}

function associatedData(b) {
  return new Canon(BACKUP_FORMAT)
    .str(b.handle)
    .str(b.kdf.algorithm)
    .u64(b.kdf.memory_kib)
    .u64(b.kdf.passes)
    .u64(b.kdf.parallelism)
    .str(b.kdf.salt)
    .finish();
}

async function passphraseKey(passphrase, kdf, onProgress) {
  const salt = b64decode(kdf.salt);
  const sane =
    kdf.algorithm === "argon2id" &&
    kdf.memory_kib <= KDF_MEMORY_KIB_MAX &&
    kdf.passes <= KDF_PASSES_MAX &&
    kdf.parallelism >= 1 &&
    kdf.parallelism <= 8 &&
    salt;
  if (!sane) throw new BackupError("not a Chit wallet backup: unsupported key derivation");
  return argon2idAsync(utf8(passphrase), salt, {
    t: kdf.passes,
    m: kdf.memory_kib,
    p: kdf.parallelism,
    dkLen: 32,
    onProgress,
  });
}

/** Seals `keys` (the CLI's keys.json object) under `passphrase`: a backup object. */
export async function exportBackup(keys, passphrase, onProgress) {
  if ([...passphrase].length < PASSPHRASE_CHARS_MIN) {
    throw new BackupError(`a passphrase needs at least ${PASSPHRASE_CHARS_MIN} characters`);
  }
  const backup = {
    format: BACKUP_FORMAT,
    handle: keys.handle,
    kdf: { ...KDF, salt: b64encode(crypto.getRandomValues(new Uint8Array(16))) },
    nonce: b64encode(crypto.getRandomValues(new Uint8Array(12))),
    ciphertext: "",
  };
  const key = await passphraseKey(passphrase, backup.kdf, onProgress);
  const sealed = chacha20poly1305(key, b64decode(backup.nonce), associatedData(backup)).encrypt(
    utf8(JSON.stringify(keys)),
  );
  key.fill(0);
  backup.ciphertext = b64encode(sealed);
  return backup;
}

/** Opens a backup (object or its JSON text): the keys file it holds. */
export async function openBackup(backupOrText, passphrase, onProgress) {
  let b = backupOrText;
  if (typeof b === "string") {
    try {
      b = JSON.parse(b);
    } catch {
      throw new BackupError("not a Chit wallet backup: not JSON");
    }
  }
  if (!b || b.format !== BACKUP_FORMAT || !b.kdf) {
    throw new BackupError(`not a Chit wallet backup: this wallet reads ${BACKUP_FORMAT}`);
  }
  const nonce = b64decode(b.nonce);
  const sealed = b64decode(b.ciphertext);
  if (!nonce || nonce.length !== 12 || !sealed) throw new BackupError("not a Chit wallet backup: damaged");
  const key = await passphraseKey(passphrase, b.kdf, onProgress);
  let plain;
  try {
    plain = chacha20poly1305(key, nonce, associatedData(b)).decrypt(sealed);
  } catch {
    throw new BackupError("wrong passphrase, or the backup was altered");
  } finally {
    key.fill(0);
  }
  const keys = JSON.parse(fromUtf8(plain));
  plain.fill(0);
  if (keys.handle !== b.handle) throw new BackupError("not a Chit wallet backup: the handle does not match the keys");
  return keys;
}
