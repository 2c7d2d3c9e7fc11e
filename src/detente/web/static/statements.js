// Statements, as detente.ledger.statements defines them: what an official says, in RFC 8785
// canonical JSON, signed with its Ed25519 key. The page builds and signs them itself, so the
// service can record them but never write one in the official's name.

const STATEMENT_CONTEXT = new TextEncoder().encode("detente/statement/v1\n");

/**
 * RFC 8785 (JSON Canonicalization Scheme): no whitespace, object keys sorted by UTF-16 code
 * units (what Array.prototype.sort does to strings), numbers and strings as JSON.stringify
 * writes them (the RFC adopts ECMAScript's serialization for both).
 */
export function canonicalize(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(",")}}`;
  }
  throw new TypeError(`a ${typeof value} has no JSON form`);
}

/** Key id of a raw 32-byte Ed25519 public key: hex of the first 16 bytes of its SHA-256. */
export async function keyId(publicKey) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey));
  return [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A log entry {signature, statement} signed by `signer` ({sign(bytes), publicKey}): the
 * signature covers STATEMENT_CONTEXT + canonical JSON of the statement.
 */
export async function signStatement(signer, { kind, author, time, body, ref = null }) {
  const statement = { author, body, key_id: await keyId(signer.publicKey), kind, ref, time };
  const text = new TextEncoder().encode(canonicalize(statement));
  const message = new Uint8Array(STATEMENT_CONTEXT.length + text.length);
  message.set(STATEMENT_CONTEXT);
  message.set(text, STATEMENT_CONTEXT.length);
  return { signature: b64(await signer.sign(message)), statement };
}

export function b64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

export function unb64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
