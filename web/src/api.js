// The node's HTTP API, as the CLI uses it: JSON bodies, `{"error": {code, message}}` on
// failure, a bearer token after login. A node that cannot be reached is an error of its own
// (`unreachable`), so the page can say so instead of going blank.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Integers past 2^53 (the statement's nanosecond cursors) would lose digits as JS numbers and
 * a cursor that moved would skip or repeat entries: they are read as BigInt from their source
 * text (JSON.parse with source, where the browser has it).
 */
function keepBigIntegers(_key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source && /^-?[0-9]+$/.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.token = null;
    this.onReachable = () => {};
  }

  async call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      this.onReachable(false);
      throw new ApiError(0, "unreachable", "the node cannot be reached; check your connection");
    }
    this.onReachable(true);
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text, keepBigIntegers) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const e = json?.error;
      throw new ApiError(response.status, e?.code ?? "http_" + response.status, e?.message ?? `the node answered ${response.status}`);
    }
    return json;
  }

  get(path) {
    return this.call("GET", path);
  }

  post(path, body) {
    return this.call("POST", path, body);
  }

  /** The WebSocket URL of `path` on this node, with the session token. */
  socketUrl(path) {
    const url = new URL(this.base + path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", this.token ?? "");
    return url.href;
  }
}
