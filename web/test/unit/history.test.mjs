// The history's helpers as the CLI has them (chit-client `history`, chit `out::csv_cell`): the
// same amounts printed back, the same CSV cells (quoted when needed, never a formula), the same
// times. The whole CSV and JSON are compared with the CLI's in the browser scenarios.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatMinor } from "../../src/amount.js";
import { csvCell, decimal, iso8601, lines, splitAmount } from "../../src/history.js";

test("amounts split and print back as the CLI does", () => {
  assert.deepEqual(splitAmount("EUR:12.50"), { code: "EUR", minor: 1250n, decimals: 2 });
  assert.deepEqual(splitAmount("JPY:7"), { code: "JPY", minor: 7n, decimals: 0 });
  assert.equal(splitAmount("12.50"), null);
  assert.equal(decimal(-1250n, 2), "-12.50");
  assert.equal(decimal(5n, 2), "0.05");
  assert.equal(decimal(-5n, 2), "-0.05");
  assert.equal(decimal(0n, 2), "0.00");
  assert.equal(decimal(7n, 0), "7");
  assert.equal(formatMinor("EUR", 2, 1250n), "EUR:12.50");
  assert.equal(formatMinor("EUR", 2, 5n), "EUR:0.05");
  assert.equal(formatMinor("JPY", 0, 500n), "JPY:500");
  assert.equal(formatMinor("EUR", 2, 9223372036854775807n), "EUR:92233720368547758.07");
  assert.deepEqual(splitAmount("EUR:0.05"), { code: "EUR", minor: 5n, decimals: 2 });
});

test("CSV cells are quoted and never formulas", () => {
  assert.equal(csvCell("lunch"), "lunch");
  assert.equal(csvCell("a,b"), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
  assert.equal(csvCell("-5"), "-5");
  assert.equal(csvCell("-12.50"), "-12.50");
  assert.equal(csvCell("-x"), "'-x");
  assert.equal(csvCell("@bob"), "@bob");
  assert.equal(csvCell("@SUM(A1)"), "'@SUM(A1)");
  assert.equal(csvCell("line\nbreak"), '"line\nbreak"');
});

test("times are ISO 8601 in UTC to the second", () => {
  assert.equal(iso8601(1_796_340_884_207), "2026-12-03T23:34:44+00:00");
  assert.equal(iso8601(0), "1970-01-01T00:00:00+00:00");
});

test("lines: the balance after each movement, and payments that moved nothing", () => {
  const statements = {
    EUR: [
      { cursor: 1n, transfer: "t1", time_ms: 10, kind: "top_up", direction: "in", amount: "EUR:50.00", moves_balance: true, rail: "sandbox" },
      { cursor: 2n, transfer: "p1", time_ms: 20, kind: "hold", direction: "out", amount: "EUR:5.00", moves_balance: false, payment: "p1", counterparty: "bob" },
      { cursor: 3n, transfer: "a1", time_ms: 30, kind: "payment", direction: "out", amount: "EUR:5.00", moves_balance: true, payment: "p1", counterparty: "bob" },
    ],
  };
  const offer = (id, state, cursor) => ({
    cursor,
    message: { id, kind: "offer", time_ms: 15, payment: { payment: id, kind: "offer", payer: "alice", payee: "bob", amount: "EUR:5.00", state } },
  });
  const update = { cursor: 9, message: { id: "u1", kind: "payment_update", time_ms: 30, payment: { payment: "p1", kind: "offer", payer: "alice", payee: "bob", amount: "EUR:5.00", state: "accepted" } } };
  const all = lines(statements, [offer("p1", "pending", 2), offer("p2", "pending", 3), update], "alice");
  assert.deepEqual(all.map((l) => [l.id, l.kind, l.state, l.balance_after]), [
    ["t1", "top_up", "completed", "EUR:50.00"],
    ["p2", "offer", "pending", null],
    ["p1", "offer", "accepted", "EUR:45.00"],
  ]);
});
