// A small DOM builder: no framework, no inline handlers (the page runs under a strict CSP).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}

/** A labelled input: the label names it for assistive technology and for tests. */
export function field(label, attrs = {}, hint) {
  const id = attrs.id ?? `f-${Math.random().toString(36).slice(2, 9)}`;
  const input = h(attrs.multiline ? "textarea" : attrs.options ? "select" : "input", { ...attrs, id, multiline: null, options: null });
  if (attrs.options) {
    for (const [value, text] of attrs.options) input.append(h("option", { value, text }));
  }
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
  const wrap = h("div", { class: "field" }, h("label", { for: id, text: label }), input, hintEl, error);
  wrap.input = input;
  wrap.setError = (text) => {
    error.textContent = text ?? "";
    error.hidden = !text;
    input.setAttribute("aria-invalid", text ? "true" : "false");
    if (text) input.setAttribute("aria-errormessage", error.id);
  };
  return wrap;
}

/** Runs `work` with `button` disabled; an error is shown in `errorEl` in words. */
export async function busy(button, errorEl, work) {
  button.disabled = true;
  if (errorEl) errorEl.textContent = "";
  try {
    return await work();
  } catch (e) {
    if (errorEl) {
      errorEl.textContent = e.message ?? String(e);
      errorEl.hidden = false;
    }
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export const errorLine = () => h("p", { class: "error", role: "alert" });

/** Milliseconds as people read them, in their own time zone. */
export const when = (ms) => new Date(ms).toLocaleString();

/** "in 4 min 10 s", "in 2 h 5 min", "expired". */
export function countdown(untilMs, now = Date.now()) {
  let s = Math.floor((untilMs - now) / 1000);
  if (s <= 0) return "expired";
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const min = Math.floor(s / 60);
  s -= min * 60;
  if (d > 0) return `expires in ${d} d ${hr} h`;
  if (hr > 0) return `expires in ${hr} h ${min} min`;
  return `expires in ${min} min ${s} s`;
}

/** Saves `text` as a file the person downloads. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * The amount typed in `amountField`, read as strictly as the CLI; null (with the reason shown
 * next to the field, and nothing sent) when it is not one.
 */
export function amountIn(wallet, amountField) {
  amountField.setError(null);
  try {
    return wallet.amount(amountField.input.value.trim());
  } catch (e) {
    amountField.setError(e.message);
    return null;
  }
}
