// Amounts as strictly as the CLI reads them (chit-core `Amount::parse_positive`), written in the
// one form that is signed: `EUR:12.50`. Integers only: minor units are BigInt, never floats.

export const AMOUNT_TEXT_LEN_MAX = 64;
const MINOR_MAX = (1n << 63n) - 1n;

export class AmountError extends Error {}

/**
 * Reads an amount as the CLI does (`5`, `5.5`, `EUR:5.50`; no spaces, no sign, no exponent)
 * with the node's currencies (`[{code, decimals}]`) and returns `{currency, decimals, minor,
 * text}`, `text` being the one written form that is signed. Errors say what the CLI says.
 */
export function parseAmount(text, currencies, defaultCode) {
  if (text === "") throw new AmountError("amount is empty");
  if (text.length > AMOUNT_TEXT_LEN_MAX) {
    throw new AmountError(`amount text is longer than ${AMOUNT_TEXT_LEN_MAX} characters`);
  }
  let code = defaultCode;
  let number = text;
  const colon = text.indexOf(":");
  if (colon >= 0) {
    code = text.slice(0, colon);
    number = text.slice(colon + 1);
    if (number.includes(":")) {
      throw new AmountError(
        `one currency code only, before the number: e.g. EUR:5.00 (got ${JSON.stringify(text)})`,
      );
    }
    if (!/^[A-Z]{1,11}$/.test(code)) {
      throw new AmountError(`invalid currency code ${JSON.stringify(code)}`);
    }
  }
  const currency = currencies.find((c) => c.code === code);
  if (!currency) throw new AmountError(`unknown currency ${code}`);
  const minor = parseMinor(number, currency);
  if (minor === 0n) throw new AmountError("amount must be greater than zero");
  return {
    currency: code,
    decimals: currency.decimals,
    minor,
    text: formatMinor(code, currency.decimals, minor),
  };
}

function parseMinor(number, currency) {
  if (number.startsWith("-")) throw new AmountError("amount must not be negative");
  if (/[eE]/.test(number)) {
    throw new AmountError("exponent notation is not allowed in amounts, write the digits out");
  }
  const dot = number.indexOf(".");
  const whole = dot < 0 ? number : number.slice(0, dot);
  const fraction = dot < 0 ? null : number.slice(dot + 1);
  const digits = (s) => /^[0-9]+$/.test(s);
  if (!digits(whole) || (fraction !== null && !digits(fraction))) {
    throw new AmountError(
      `not an amount: ${JSON.stringify(number)} (expected e.g. EUR:12.50 or 12.50)`,
    );
  }
  const frac = fraction ?? "";
  if (frac.length > currency.decimals) {
    throw new AmountError(
      `${currency.code} has ${currency.decimals} decimals, the amount has more`,
    );
  }
  const minor =
    BigInt(whole) * 10n ** BigInt(currency.decimals) +
    BigInt(frac.padEnd(currency.decimals, "0") || "0");
  if (minor > MINOR_MAX) throw new AmountError("amount is too large");
  return minor;
}

/** The written form: code, colon, every decimal (`EUR:12.50`, `JPY:500`). */
export function formatMinor(code, decimals, minor) {
  const m = BigInt(minor);
  const scale = 10n ** BigInt(decimals);
  const whole = m / scale;
  if (decimals === 0) return `${code}:${whole}`;
  return `${code}:${whole}.${(m % scale).toString().padStart(decimals, "0")}`;
}

/**
 * A written amount split into its code, minor units and decimals (`EUR:12.50` →
 * `{code: "EUR", minor: 1250n, decimals: 2}`), as chit-client's `split_amount`; null if it is
 * not one. The node writes every amount with all its decimals.
 */
export function splitAmount(text) {
  const colon = (text ?? "").indexOf(":");
  if (colon < 0) return null;
  const number = text.slice(colon + 1);
  const dot = number.indexOf(".");
  const whole = dot < 0 ? number : number.slice(0, dot);
  const fraction = dot < 0 ? "" : number.slice(dot + 1);
  const digits = whole + fraction;
  if (!/^[+-]?[0-9]+$/.test(digits)) return null;
  return { code: text.slice(0, colon), minor: BigInt(digits), decimals: fraction.length };
}
