// The wallet's storage: IndexedDB only (never localStorage). Keys are kept as non-extractable
// CryptoKeys, which IndexedDB stores as they are; messages by id, so every item shows once
// however often it arrives; the outbox holds what the node has not acknowledged yet.

const NAME = "chit-wallet";
const VERSION = 1;
const STORES = ["kv", "messages", "outbox"];

function promise(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export class Store {
  static async open(name = NAME) {
    const request = indexedDB.open(name, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      if (!db.objectStoreNames.contains("messages")) db.createObjectStore("messages", { keyPath: "message.id" });
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
    };
    return new Store(await promise(request));
  }

  constructor(db) {
    this.db = db;
  }

  tx(store, mode = "readonly") {
    return this.db.transaction(store, mode).objectStore(store);
  }

  get(store, key) {
    return promise(this.tx(store).get(key));
  }

  all(store) {
    return promise(this.tx(store).getAll());
  }

  put(store, value, key) {
    return promise(key === undefined ? this.tx(store, "readwrite").put(value) : this.tx(store, "readwrite").put(value, key));
  }

  /**
   * Reads and writes one record in a single transaction: `f(current)` returns the record to
   * keep, or undefined to leave it. Two of these on one key never interleave.
   */
  update(store, key, f) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(store, "readwrite");
      const os = tx.objectStore(store);
      const get = os.get(key);
      get.onsuccess = () => {
        const next = f(get.result);
        if (next !== undefined) os.put(next);
      };
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }

  delete(store, key) {
    return promise(this.tx(store, "readwrite").delete(key));
  }

  /** Everything gone: log out of this browser for good. */
  async clear() {
    const tx = this.db.transaction(STORES, "readwrite");
    for (const s of STORES) tx.objectStore(s).clear();
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  }
}
