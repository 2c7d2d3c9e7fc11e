// Login: the operator loads its official's key file (PKCS#8 PEM, Ed25519). The key is kept
// non-extractable: after import the page can sign with it but no script can read it back.

const PEM = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/;

/**
 * A signer {sign(bytes) -> Promise<signature bytes>, publicKey: raw 32 bytes} from the text of
 * a PEM key file.
 */
export async function signerFromPem(text) {
  if (!crypto.subtle) {
    // WebCrypto exists only in secure contexts: https, or http on localhost/127.0.0.1.
    throw new Error("this page is not a secure context (https or localhost): cannot sign");
  }
  const match = PEM.exec(text);
  if (!match) throw new Error("not a PKCS#8 PEM key file (-----BEGIN PRIVATE KEY-----)");
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  let key;
  let publicKey;
  try {
    // WebCrypto derives no public key from a non-extractable private key: import it once
    // extractable for its JWK "x" (the raw public key, base64url), then keep a copy that is not.
    const open = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    const { x } = await crypto.subtle.exportKey("jwk", open);
    publicKey = Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/")),
                                (c) => c.charCodeAt(0));
    key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  } catch (error) {
    throw new Error(`not an Ed25519 private key (${error.name})`);
  }
  const sign = async (bytes) =>
    new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, bytes));
  return { sign, publicKey };
}

/** Wire the login form: on submit, read the key file, sign the source's challenge, report. */
export function mountLogin(form, source, onLogin) {
  const status = form.querySelector(".status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const party = form.party.value.trim();
    const official = form.official.value.trim();
    const file = form.key.files[0];
    status.textContent = "";
    try {
      if (!party || !official || !file) throw new Error("party, official and key file are needed");
      const signer = await signerFromPem(await file.text());
      await onLogin(await source.login(party, official, signer));
    } catch (error) {
      status.textContent = error.message;
    }
  });
}
