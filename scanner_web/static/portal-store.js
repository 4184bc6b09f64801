// The supplier portal's store in this browser: IndexedDB "cradletrace-portal", object store "keys",
// one entry per signing key ({key_id, supplier, public_key, private_key: a non-extractable
// CryptoKey, ...}). Structured clone keeps a CryptoKey usable and still non-extractable.

const DB = "cradletrace-portal";
const STORE = "keys";

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key_id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function inStore(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const localKeys = () => inStore("readonly", (s) => s.getAll());
export const keep = (entry) => inStore("readwrite", (s) => s.put(entry));
export const forget = (keyId) => inStore("readwrite", (s) => s.delete(keyId));
