// The history as the CLI wallet shows and exports it (chit-client `history::lines`, `chit
// history --csv` and `--json`): the node's statement, every entry from the first so the balance
// after each line is known, joined with the payments this wallet has seen. Pure functions of
// the stored statement and messages, so the browser's CSV is byte for byte the CLI's.

import { splitAmount } from "./amount.js";
import { shortId } from "./ids.js";

export { splitAmount };

/** Minor units as a number with `decimals` places: `(-1250n, 2)` → `-12.50`. */
export function decimal(minor, decimals) {
  const sign = minor < 0n ? "-" : "";
  const digits = (minor < 0n ? -minor : minor).toString().padStart(decimals + 1, "0");
  if (decimals === 0) return sign + digits;
  return `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/** The state each payment is in by the messages seen: the one on its latest delivery. */
export function paymentStates(deliveries) {
  const latest = new Map();
  for (const d of deliveries) {
    const p = d.message.payment;
    if (!p) continue;
    const known = latest.get(p.payment);
    if (!known || BigInt(d.cursor ?? 0) >= BigInt(known.cursor ?? 0)) latest.set(p.payment, { cursor: d.cursor, part: p });
  }
  return new Map([...latest].map(([id, v]) => [id, v.part]));
}

const byKey = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every line of `me`'s history, oldest first: `statements` is `{currency: [entry…]}` (every
 * entry from the first), `deliveries` the messages this wallet holds.
 */
export function lines(statements, deliveries, me) {
  const states = paymentStates(deliveries);
  const made = new Map(
    deliveries
      .filter((d) => d.message.kind === "offer" || d.message.kind === "request")
      .sort((a, b) => byKey(a.message.id, b.message.id))
      .map((d) => [d.message.id, d]),
  );
  const stateOf = (id) => states.get(id)?.state;
  const out = [];
  const moved = new Set();
  for (const currency of Object.keys(statements).sort(byKey)) {
    let balance = 0n;
    for (const e of statements[currency].filter((x) => x.moves_balance)) {
      const split = splitAmount(e.amount);
      if (!split) continue;
      balance += e.direction === "in" ? split.minor : -split.minor;
      const kind = e.kind === "payment" ? (made.get(e.payment)?.message.kind ?? "payment") : e.kind;
      if (e.payment && kind !== "refund") moved.add(e.payment);
      let state;
      if (kind === "top_up" || kind === "cash_out") state = "completed";
      else if (kind === "refund") state = "refunded";
      else if (e.payment) state = stateOf(e.payment) ?? "settled";
      else state = "completed";
      out.push({
        sort: [e.time_ms, BigInt(e.cursor)],
        line: {
          time_ms: e.time_ms,
          id: e.payment ?? e.transfer,
          kind,
          direction: e.direction === "in" ? "in" : "out",
          counterparty: e.counterparty ?? null,
          rail: e.rail ?? null,
          amount: e.amount,
          state,
          balance_after: `${split.code}:${decimal(balance, split.decimals)}`,
          message: e.payment && made.has(e.payment) ? e.payment : null,
        },
      });
    }
  }
  for (const [id, d] of made) {
    if (moved.has(id)) continue;
    const m = d.message;
    const p = m.payment;
    const outOfMe = p.payer === me;
    out.push({
      sort: [m.time_ms, 0n],
      line: {
        time_ms: m.time_ms,
        id: m.id,
        kind: m.kind,
        direction: outOfMe ? "out" : "in",
        counterparty: outOfMe ? p.payee : p.payer,
        rail: null,
        amount: p.amount,
        state: stateOf(id) ?? p.state,
        balance_after: null,
        message: m.id,
      },
    });
  }
  out.sort((a, b) => a.sort[0] - b.sort[0] || byKey(a.sort[1], b.sort[1]));
  return out.map((x) => x.line);
}

/** `2026-12-04T02:11:40+00:00`, as chit-core's `iso8601`. */
export function iso8601(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00");
}

function signed(line) {
  const s = splitAmount(line.amount);
  if (!s) return [line.amount, ""];
  return [decimal(line.direction === "out" ? -s.minor : s.minor, s.decimals), s.code];
}

const otherSide = (line) => (line.counterparty ? `@${line.counterparty}` : (line.rail ?? ""));
const HANDLE_TEXT = /^@[a-z][a-z0-9_.-]{2,31}$/;

/** A CSV cell as the CLI writes it: quoted when needed, and never a spreadsheet formula. */
export function csvCell(v) {
  const number = v.startsWith("-") ? v.slice(1) : v;
  const isNumber = number !== "" && /^[0-9.]+$/.test(number) && (number.match(/\./g) ?? []).length <= 1;
  let cell = v;
  if (!isNumber && /^[=+\-@]/.test(v) && !HANDLE_TEXT.test(v)) cell = `'${v}`;
  return /[,"\n\r]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/** `chit history --csv`, given each line's note. */
export function toCsv(shown, noteOf) {
  const header = "time,id,short_id,kind,direction,counterparty,amount,currency,amount_text,balance_after,state,note";
  const rows = shown.map((l) => {
    const [amount, currency] = signed(l);
    const balance = l.balance_after?.split(":")[1] ?? "";
    return [iso8601(l.time_ms), l.id, shortId(l.id), l.kind, l.direction, otherSide(l), amount, currency, l.amount, balance, l.state, noteOf(l)]
      .map(csvCell)
      .join(",");
  });
  return [header, ...rows].join("\n") + "\n";
}

/** `chit history --json`: the same keys, in the same (sorted) order. */
export function toJson(shown, noteOf) {
  const history = shown.map((l) => {
    const [amount, currency] = signed(l);
    return {
      amount,
      amount_text: l.amount,
      balance_after: l.balance_after,
      counterparty: otherSide(l),
      currency,
      direction: l.direction,
      id: l.id,
      kind: l.kind,
      note: noteOf(l),
      short_id: shortId(l.id),
      state: l.state,
      time: iso8601(l.time_ms),
    };
  });
  return JSON.stringify({ history }) + "\n";
}
