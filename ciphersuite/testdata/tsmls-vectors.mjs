// Generates tsmls-1.6.4.json: outputs of ts-mls 1.6.4 for each of its
// post-quantum suites, which ciphersuite's tests check Arbor against.
//
//   npm install ts-mls@1.6.4 @hpke/core@1.9.0 @hpke/ml-kem@0.3.0 \
//     @hpke/hybridkem-x-wing@0.7.0 @hpke/chacha20poly1305@1.8.0 \
//     @noble/post-quantum@0.5.2 @noble/curves@2.0.1 @noble/ciphers@2.1.1
//   node tsmls-vectors.mjs > tsmls-1.6.4.json
import { ciphersuites, getCiphersuiteFromName, getCiphersuiteImpl } from "ts-mls";
import { encryptWithLabel } from "ts-mls/crypto/hpke.js";
import { signWithLabel } from "ts-mls/crypto/signature.js";
import { expandWithLabel } from "ts-mls/crypto/kdf.js";
import { refhash } from "ts-mls/crypto/hash.js";
import { ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";

const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (n, start) => Uint8Array.from({ length: n }, (_, i) => (start + 7 * i) & 0xff);
const text = (s) => new TextEncoder().encode(s);

const out = [];
for (const [name, id] of Object.entries(ciphersuites)) {
  if (id < 77) continue;
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(name));
  const v = { cipher_suite: id, name };

  // DeriveKeyPair from a node-secret-sized ikm, then HPKE to that key.
  const ikm = bytes(cs.kdf.size, id);
  const kp = await cs.hpke.deriveKeyPair(ikm);
  const priv = await cs.hpke.exportPrivateKey(kp.privateKey);
  const pub = await cs.hpke.exportPublicKey(kp.publicKey);
  const context = text("group context");
  const plaintext = text("path secret of suite " + id);
  const sealed = await encryptWithLabel(kp.publicKey, "UpdatePathNode", context, plaintext, cs.hpke);
  v.derive_key_pair = { ikm: hex(ikm), priv: hex(priv), pub: hex(pub) };
  v.encrypt_with_label = {
    label: "UpdatePathNode", context: hex(context), plaintext: hex(plaintext),
    kem_output: hex(sealed.enc), ciphertext: hex(sealed.ct),
  };

  // ExternalInit's export (RFC 9420 section 8.3).
  const exp = await cs.hpke.exportSecret(kp.publicKey, text("MLS 1.0 external init secret"), cs.kdf.size, new Uint8Array());
  v.export = { kem_output: hex(exp.enc), secret: hex(exp.secret), length: cs.kdf.size };

  // SignWithLabel. ML-DSA keys come from a known seed so that the public
  // key checks Arbor's key generation too.
  const content = text("leaf node tbs");
  let signKey, sigPub, seed = null;
  if (name.endsWith("MLDSA87")) {
    seed = bytes(32, 100 + id);
    const k = ml_dsa87.keygen(seed);
    signKey = k.secretKey;
    sigPub = k.publicKey;
  } else {
    const k = await cs.signature.keygen();
    signKey = k.signKey;
    sigPub = k.publicKey;
  }
  const sig = await signWithLabel(signKey, "LeafNodeTBS", content, cs.signature);
  v.sign_with_label = { seed: seed && hex(seed), pub: hex(sigPub), label: "LeafNodeTBS", content: hex(content), signature: hex(sig) };

  // The symmetric half: KDF, hash and MAC.
  const secret = bytes(cs.kdf.size, 200 + id);
  v.expand_with_label = {
    secret: hex(secret), label: "epoch", context: hex(context), length: cs.kdf.size,
    out: hex(await expandWithLabel(secret, "epoch", context, cs.kdf.size, cs.kdf)),
  };
  v.ref_hash = { label: "MLS 1.0 KeyPackage Reference", value: hex(content), out: hex(await refhash("MLS 1.0 KeyPackage Reference", content, cs.hash)) };
  v.mac = { key: hex(secret), data: hex(content), out: hex(await cs.hash.mac(secret, content)) };
  const key = bytes(cs.hpke.keyLength, 1), nonce = bytes(cs.hpke.nonceLength, 2);
  v.aead = { key: hex(key), nonce: hex(nonce), aad: hex(context), plaintext: hex(plaintext), ciphertext: hex(await cs.hpke.encryptAead(key, nonce, context, plaintext)) };
  out.push(v);
}
console.log(JSON.stringify(out, null, 1));
