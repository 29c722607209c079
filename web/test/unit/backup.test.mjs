// A backup the CLI wrote (`chit key export`, in test/vectors.json) opens here to the same keys,
// and one written here opens again; a wrong passphrase is said so.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BackupError, exportBackup, openBackup } from "../../src/backup.js";

const v = JSON.parse(readFileSync(new URL("../vectors.json", import.meta.url)));

test("a CLI backup opens in the browser code, and a wrong passphrase is a clear error", async () => {
  const keys = await openBackup(JSON.stringify(v.backup.backup), v.backup.passphrase);
  assert.deepEqual(keys, v.backup.keys);
  await assert.rejects(openBackup(v.backup.backup, "not the passphrase"), {
    message: "wrong passphrase, or the backup was altered",
  });
  const altered = { ...v.backup.backup, handle: "mallory" };
  await assert.rejects(openBackup(altered, v.backup.passphrase), BackupError);
});

test("a backup made here opens again, and short passphrases are refused", async () => {
  await assert.rejects(exportBackup(v.backup.keys, "short"), /at least 10/);
  const made = await exportBackup(v.backup.keys, "another long passphrase");
  assert.equal(made.kdf.memory_kib, 65536);
  assert.deepEqual(await openBackup(made, "another long passphrase"), v.backup.keys);
});
