// Interop of the mls command-line tool with ts-mls, through the files the
// tool reads and writes. Usage: node interop.mjs MLS_BINARY [SUITE...]
// where SUITE is a code point of ts-mls (default: those that interoperate).
//
// Part 1, an Arbor group: alice (Arbor) creates it and adds tsbob
// (ts-mls); messages go both ways; tsbob commits an update, alice one with
// a path; tsbob commits adding erin (Arbor, joins from the Welcome); tsfrank
// (ts-mls) joins by external commit from alice's GroupInfo and talks with
// erin; alice commits removing tsfrank; tsbob commits removing erin.
// Part 2, a ts-mls group, the same the other way round: tscarol (ts-mls)
// creates it and adds dave (Arbor); messages go both ways; tscarol commits
// an update, dave an empty commit; dave commits adding tsgina (ts-mls,
// joins from the Welcome); hank (Arbor) joins by external commit from
// tscarol's GroupInfo and talks with tsgina; tscarol commits removing hank;
// dave commits removing tsgina.
// After every epoch each member still in the group is checked to be in that
// epoch with the same epoch_authenticator and MLS-Exporter output.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  createApplicationMessage, createCommit, createGroup, joinGroup, joinGroupExternal, processMessage,
  createGroupInfoWithExternalPubAndRatchetTree,
  getCiphersuiteImpl, getCiphersuiteFromName, defaultCapabilities, defaultLifetime,
  emptyPskIndex, generateKeyPackage, encodeMlsMessage, decodeMlsMessage, mlsExporter, acceptAll,
} from "ts-mls"
// Not in ts-mls's index, but exported by its package (see rfcGroupInfo).
import { createGroupInfo } from "ts-mls/createCommit.js"

const mls = process.argv[2]
if (!mls) throw new Error("usage: node interop.mjs MLS_BINARY [SUITE...]")
// Left out by default, because they fail (name them to see it):
//   - 2, 5, 7 (ECDSA): ts-mls 1.6.4 encodes ECDSA signature keys as
//     compressed points, where RFC 9420 section 5.1.1 requires uncompressed
//     ones, and Arbor refuses them.
const suites = process.argv.length > 3 ? process.argv.slice(3).map(Number)
  : [1, 3, 4, 6, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88]
const suiteNames = {
  1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
  4: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
  5: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
  6: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
  7: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
  77: "MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519",
  78: "MLS_128_MLKEM512_CHACHA20POLY1305_SHA256_Ed25519",
  79: "MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519",
  80: "MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519",
  81: "MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519",
  82: "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519",
  83: "MLS_256_XWING_AES256GCM_SHA512_Ed25519",
  84: "MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519",
  85: "MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87",
  86: "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87",
  87: "MLS_256_XWING_AES256GCM_SHA512_MLDSA87",
  88: "MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87",
}
// The ts-mls profile maps code points 77 to 88 to ts-mls's post-quantum
// suites; the RFC 9420 suites keep their code points in it.
const env = { ...process.env, MLS_SUITE_PROFILE: "ts-mls" }
const run = (...args) => execFileSync(mls, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] })
const runJSON = (...args) => JSON.parse(run(...args))
const enc = new TextEncoder(), dec = new TextDecoder()
const hex = (b) => Buffer.from(b).toString("hex")
// The ts-mls clients make their KeyPackages with ts-mls's own default
// lifetime, [0, 2^63-1]: Arbor sets no maximum lifetime by default (RFC
// 9420 section 7.2 leaves it to the application).

// ts-mls 1.6.4 deviates from RFC 9420 section 12.4.3.2 in the external_pub
// GroupInfo extension: its extension_data is the struct ExternalPub, whose
// one field is an HPKEPublicKey, opaque<V>, so the key with a varint length
// prefix; ts-mls writes and reads the bare key instead (fixed on ts-mls's
// main line by its pull request 449, not in 1.6.4). Arbor follows the RFC. The
// two shims below translate at that one place, so that the rest of an
// external join (GroupInfo signature, tree, HPKE export, confirmation tag)
// is still tested unchanged; without them, ts-mls fails on Arbor's
// GroupInfo with "Invalid public key for the ciphersuite" and Arbor on
// ts-mls's with "malformed ExternalPub: codec: truncated input".
function opaqueV(b) {
  const n = b.length
  const prefix = n < 0x40 ? [n] : n < 0x4000 ? [0x40 | (n >> 8), n & 0xff]
    : [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
  return Uint8Array.from([...prefix, ...b])
}
function unOpaqueV(b) {
  const size = 1 << (b[0] >> 6)
  let n = b[0] & 0x3f
  for (let i = 1; i < size; i++) n = n * 256 + b[i]
  if (size > 4 || b.length !== size + n) throw new Error("external_pub: not an opaque<V> holding the whole extension")
  return b.subarray(size)
}
// For ts-mls joining an Arbor group: a ciphersuite whose HPKE reads the
// external_pub extension data of that GroupInfo as ExternalPub.
function withRFCExternalPub(impl, groupInfo) {
  const data = groupInfo.extensions.find((e) => e.extensionType === "external_pub")?.extensionData
  return { ...impl, hpke: { ...impl.hpke,
    importPublicKey: (k) => impl.hpke.importPublicKey(k === data ? unOpaqueV(k) : k) } }
}
// For Arbor joining a ts-mls group: ts-mls's GroupInfo with external_pub
// and the ratchet tree, its external_pub re-encoded as ExternalPub and
// signed again by the same member with ts-mls's own GroupInfo signing.
async function rfcGroupInfo(state, impl) {
  const gi = await createGroupInfoWithExternalPubAndRatchetTree(state, [], impl)
  const extensions = gi.extensions.map((e) =>
    e.extensionType === "external_pub" ? { ...e, extensionData: opaqueV(e.extensionData) } : e)
  return createGroupInfo(state.groupContext, state.confirmationTag, state, extensions, impl)
}

let checks = 0, failures = 0
function check(what, ok, detail = "") {
  checks++
  if (!ok) failures++
  console.log(`${ok ? "ok  " : "FAIL"}  ${what}${ok || !detail ? "" : ": " + detail}`)
}
function readMessage(file, wireformat) {
  const m = decodeMlsMessage(readFileSync(file), 0)?.[0]
  if (!m || m.wireformat !== wireformat) throw new Error(`${file}: not a ${wireformat}`)
  return m
}
function writeMessage(file, m) { writeFileSync(file, encodeMlsMessage({ version: "mls10", ...m })) }

for (const suite of suites) {
  const dir = mkdtempSync(join(tmpdir(), "mls-ts-interop-"))
  try {
    const impl = await getCiphersuiteImpl(getCiphersuiteFromName(suiteNames[suite]))
    for (const part of [tsJoinsArbor, arborJoinsTS]) {
      // A thrown error ends the part (the states no longer match); the
      // step it was at names what failed.
      const h = helpers(suite, impl, (name) => join(dir, name))
      try {
        await part(h)
      } catch (e) {
        check(`suite ${suite}: ${part.name}: ${h.step.at}`, false, String(e.message || e).split("\n").slice(0, 2).join(" "))
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
console.log(`${checks - failures} passed, ${failures} failed`)
process.exit(failures ? 1 : 0)

function helpers(suite, impl, f) {
  const step = { at: "start" }
  const say = (what, ok, detail) => check(`suite ${suite}: ${what}`, ok, detail)
  const receive = async (state, file) =>
    processMessage(decodeMlsMessage(readFileSync(file), 0)[0], state, emptyPskIndex, acceptAll, impl)
  // The ts-mls side of the exporter check; arborExport is the Arbor side.
  const exported = async (state) =>
    hex(await mlsExporter(state.keySchedule.exporterSecret, "interop", enc.encode("ctx"), 32, impl))
  const arborExport = (st, g) =>
    runJSON("group", "export", "--state", f(st), "--group", g, "--label", "interop", "--context", hex(enc.encode("ctx")), "--length", "32").exported_secret
  const keyPackage = async (identity) => {
    const kp = await generateKeyPackage({ credentialType: "basic", identity: enc.encode(identity) },
      defaultCapabilities(), defaultLifetime, [], impl)
    writeMessage(f(`${identity}.kp`), { wireformat: "mls_key_package", keyPackage: kp.publicPackage })
    return kp
  }
  const arborKeyPackage = (name) => {
    run("init", "--state", f(name), "--identity", name)
    run("keypackage", "--state", f(name), "--suite", String(suite), "--out", f(`${name}.kp`))
    return readMessage(f(`${name}.kp`), "mls_key_package").keyPackage
  }
  // Checks that the Arbor members (state folder names) and the ts-mls ones
  // (name -> ClientState) are all in the given epoch and agree on its
  // epoch_authenticator and on an MLS-Exporter output.
  const agree = async (g, epoch, arbor, ts) => {
    const views = []
    for (const st of arbor) {
      const info = runJSON("group", "info", "--state", f(st), "--group", g)
      views.push({ who: st, epoch: BigInt(info.epoch), auth: info.epoch_authenticator, exp: arborExport(st, g) })
    }
    for (const [who, s] of Object.entries(ts))
      views.push({ who, epoch: s.groupContext.epoch, auth: hex(s.keySchedule.epochAuthenticator), exp: await exported(s) })
    const names = views.map((v) => v.who).join(", ")
    const differ = (key) => views.filter((v) => v[key] !== views[0][key]).map((v) => v.who).join(", ")
    const wrongEpoch = views.filter((v) => v.epoch !== BigInt(epoch)).map((v) => `${v.who} in ${v.epoch}`).join(", ")
    say(`epoch ${epoch}: ${names} agree on the epoch authenticator`,
      !wrongEpoch && !differ("auth"), wrongEpoch ? `not in epoch ${epoch}: ${wrongEpoch}` : `${differ("auth")} differ from ${views[0].who}`)
    say(`epoch ${epoch}: ${names} agree on the exporter`, !differ("exp"), `${differ("exp")} differ from ${views[0].who}`)
  }
  // ts-mls commits; the commit goes to file, its Welcome (if any) to
  // file.welcome. Returns the committer's new state.
  const tsCommit = async (state, file, options = {}) => {
    const c = await createCommit({ state, cipherSuite: impl }, options)
    writeFileSync(f(file), encodeMlsMessage(c.commit))
    if (c.welcome) writeMessage(f(`${file}.welcome`), { wireformat: "mls_welcome", welcome: c.welcome })
    return c.newState
  }
  const tsJoin = async (kp, file) =>
    joinGroup(readMessage(f(file), "mls_welcome").welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl)
  const arborProcess = (st, g, file) => runJSON("group", "process", "--state", f(st), "--group", g, "--in", f(file))
  // An application message each way between Arbor member st and the ts-mls
  // member state (named who in the checks); returns state's new state.
  const talk = async (st, g, who, state) => {
    const text = `hello from ${st}`
    run("send", "--state", f(st), "--group", g, "--text", text, "--out", f(`${st}.msg`))
    const r = await receive(state, f(`${st}.msg`))
    say(`${who} (ts-mls) decrypts a message of ${st} (Arbor)`, r.kind === "applicationMessage" && dec.decode(r.message) === text)
    const sent = await createApplicationMessage(r.newState, enc.encode(`hello from ${who}`), impl)
    writeMessage(f(`${who}.msg`), { wireformat: "mls_private_message", privateMessage: sent.privateMessage })
    say(`${st} (Arbor) decrypts a message of ${who} (ts-mls)`,
      run("recv", "--state", f(st), "--group", g, "--in", f(`${who}.msg`)) === `hello from ${who}`)
    return sent.newState
  }
  // From epoch: the ts-mls member (state) commits an update that Arbor
  // member st processes, then st commits with arborFlags (nothing: an
  // empty commit; --update) and state processes it. Returns state's new state.
  const updates = async (st, g, who, state, epoch, arborFlags) => {
    step.at = "ts-mls commits an update"
    state = await tsCommit(state, `${who}.update`)
    const p = arborProcess(st, g, `${who}.update`)
    say(`${st} (Arbor) processes an update commit of ${who} (ts-mls)`, p.kind === "commit" && p.new_epoch.epoch === epoch + 1)
    await agree(g, epoch + 1, [st], { [who]: state })
    const kind = arborFlags.length ? `a ${arborFlags.join(" ")} commit` : "an empty commit"
    step.at = `Arbor commits ${kind}`
    run("group", "commit", "--state", f(st), "--group", g, ...arborFlags, "--commit-out", f(`${st}.update`))
    state = (await receive(state, f(`${st}.update`))).newState
    say(`${who} (ts-mls) processes ${kind} of ${st} (Arbor)`, state.groupContext.epoch === BigInt(epoch + 2))
    await agree(g, epoch + 2, [st], { [who]: state })
    return state
  }
  return { suite, impl, f, step, say, receive, keyPackage, arborKeyPackage, agree, tsCommit, tsJoin, arborProcess, talk, updates }
}

function leaves(state) { return state.ratchetTree.filter((n) => n?.nodeType === "leaf").length }

// Part 1: an Arbor group, with ts-mls members.
async function tsJoinsArbor(h) {
  const { suite, impl, f, step, say, receive, keyPackage, arborKeyPackage, agree, tsCommit, tsJoin, arborProcess, talk, updates } = h
  const G1 = "a11ce0000000"
  let p
  step.at = "Arbor creates a group and adds a ts-mls client"
  run("init", "--state", f("alice"), "--identity", "alice")
  runJSON("group", "create", "--state", f("alice"), "--suite", String(suite), "--group-id", G1)
  const bob = await keyPackage("tsbob")
  say("Arbor inspects a ts-mls KeyPackage as valid",
    JSON.parse(run("inspect", f("tsbob.kp"))).key_package.validation === "valid")
  run("group", "add", "--state", f("alice"), "--group", G1, "--key-package", f("tsbob.kp"),
    "--commit-out", f("c1"), "--welcome-out", f("w1"))
  let bob1 = await tsJoin(bob, "w1")
  say("ts-mls joins from an Arbor Welcome", bob1.groupContext.epoch === 1n)
  await agree(G1, 1, ["alice"], { tsbob: bob1 })

  step.at = "application messages"
  bob1 = await talk("alice", G1, "tsbob", bob1)

  bob1 = await updates("alice", G1, "tsbob", bob1, 1, ["--update"])

  step.at = "ts-mls commits adding an Arbor client"
  bob1 = await tsCommit(bob1, "c4", {
    extraProposals: [{ proposalType: "add", add: { keyPackage: arborKeyPackage("erin") } }],
    ratchetTreeExtension: true,
  })
  p = arborProcess("alice", G1, "c4")
  say("Arbor processes a ts-mls add commit", p.kind === "commit" && p.new_epoch.epoch === 4 &&
    p.new_epoch.added.length === 1 && p.new_epoch.added[0].identity === "erin")
  const j = runJSON("group", "join", "--state", f("erin"), "--welcome", f("c4.welcome"))
  say("Arbor joins from the Welcome of a ts-mls add commit", j.group_id === G1 && j.epoch === 4 && j.own_leaf === 2)
  await agree(G1, 4, ["alice", "erin"], { tsbob: bob1 })

  step.at = "ts-mls joins by external commit"
  run("group", "info", "--state", f("alice"), "--group", G1, "--out", f("gi5"))
  const frank = await keyPackage("tsfrank")
  const gi = readMessage(f("gi5"), "mls_group_info").groupInfo
  const ext = await joinGroupExternal(gi, frank.publicPackage, frank.privatePackage, false, withRFCExternalPub(impl, gi))
  let frank1 = ext.newState
  writeMessage(f("c5"), { wireformat: "mls_public_message", publicMessage: ext.publicMessage })
  for (const st of ["alice", "erin"]) {
    p = arborProcess(st, G1, "c5")
    say(`Arbor (${st}) processes a ts-mls external commit`, p.kind === "commit" && p.sender === "new_member_commit" &&
      p.new_epoch.epoch === 5 && p.new_epoch.added.length === 1 && p.new_epoch.added[0].identity === "tsfrank")
  }
  bob1 = (await receive(bob1, f("c5"))).newState
  await agree(G1, 5, ["alice", "erin"], { tsbob: bob1, tsfrank: frank1 })
  frank1 = await talk("erin", G1, "tsfrank", frank1)

  step.at = "Arbor commits removing a ts-mls member"
  run("group", "commit", "--state", f("alice"), "--group", G1, "--remove", String(frank1.privatePath.leafIndex), "--commit-out", f("c6"))
  p = arborProcess("erin", G1, "c6")
  say("Arbor (erin) processes an Arbor remove commit", p.new_epoch?.removed?.[0]?.identity === "tsfrank")
  bob1 = (await receive(bob1, f("c6"))).newState
  say("ts-mls processes an Arbor remove commit", bob1.groupContext.epoch === 6n && leaves(bob1) === 3)
  frank1 = (await receive(frank1, f("c6"))).newState
  say("the removed ts-mls member learns it", frank1.groupActiveState.kind === "removedFromGroup")
  await agree(G1, 6, ["alice", "erin"], { tsbob: bob1 })

  step.at = "ts-mls commits removing an Arbor member"
  bob1 = await tsCommit(bob1, "c7", { extraProposals: [{ proposalType: "remove", remove: { removed: j.own_leaf } }] })
  p = arborProcess("alice", G1, "c7")
  say("Arbor processes a ts-mls remove commit", p.new_epoch?.epoch === 7 && p.new_epoch.removed.length === 1 &&
    p.new_epoch.removed[0].identity === "erin" && !p.new_epoch.removed_self)
  p = arborProcess("erin", G1, "c7")
  say("the removed Arbor member learns it", p.new_epoch?.removed_self === true)
  await agree(G1, 7, ["alice"], { tsbob: bob1 })
}

// Part 2: a ts-mls group, with Arbor members.
async function arborJoinsTS(h) {
  const { impl, f, step, say, receive, keyPackage, arborKeyPackage, agree, tsCommit, tsJoin, arborProcess, talk, updates } = h
  const G2 = "c0ffee000000"
  let p
  step.at = "ts-mls creates a group and adds an Arbor client"
  const carol = await keyPackage("tscarol")
  let carol1 = await createGroup(Buffer.from(G2, "hex"), carol.publicPackage, carol.privatePackage, [], impl)
  carol1 = await tsCommit(carol1, "c21", {
    extraProposals: [{ proposalType: "add", add: { keyPackage: arborKeyPackage("dave") } }],
    ratchetTreeExtension: true,
  })
  const j = runJSON("group", "join", "--state", f("dave"), "--welcome", f("c21.welcome"))
  say("Arbor joins from a ts-mls Welcome", j.group_id === G2 && j.epoch === 1)
  await agree(G2, 1, ["dave"], { tscarol: carol1 })

  step.at = "application messages"
  carol1 = await talk("dave", G2, "tscarol", carol1)

  carol1 = await updates("dave", G2, "tscarol", carol1, 1, [])

  step.at = "Arbor commits adding a ts-mls client"
  const gina = await keyPackage("tsgina")
  run("group", "commit", "--state", f("dave"), "--group", G2, "--add", f("tsgina.kp"),
    "--commit-out", f("c24"), "--welcome-out", f("w24"))
  carol1 = (await receive(carol1, f("c24"))).newState
  say("ts-mls processes an Arbor add commit", carol1.groupContext.epoch === 4n && leaves(carol1) === 3)
  let gina1 = await tsJoin(gina, "w24")
  say("ts-mls joins from the Welcome of an Arbor add commit", gina1.groupContext.epoch === 4n && gina1.privatePath.leafIndex === 2)
  await agree(G2, 4, ["dave"], { tscarol: carol1, tsgina: gina1 })

  step.at = "Arbor joins by external commit"
  writeMessage(f("gi25"), { wireformat: "mls_group_info", groupInfo: await rfcGroupInfo(carol1, impl) })
  run("init", "--state", f("hank"), "--identity", "hank")
  const x = runJSON("group", "external-join", "--state", f("hank"), "--group-info", f("gi25"), "--commit-out", f("c25"))
  say("Arbor joins a ts-mls group by external commit", x.group_id === G2 && x.epoch === 5 && x.own_leaf === 3)
  carol1 = (await receive(carol1, f("c25"))).newState
  gina1 = (await receive(gina1, f("c25"))).newState
  say("ts-mls processes an Arbor external commit", carol1.groupContext.epoch === 5n && gina1.groupContext.epoch === 5n)
  p = arborProcess("dave", G2, "c25")
  say("Arbor (dave) processes an Arbor external commit in a ts-mls group", p.new_epoch?.added?.[0]?.identity === "hank")
  await agree(G2, 5, ["dave", "hank"], { tscarol: carol1, tsgina: gina1 })
  gina1 = await talk("hank", G2, "tsgina", gina1)

  step.at = "ts-mls commits removing an Arbor member"
  carol1 = await tsCommit(carol1, "c26", { extraProposals: [{ proposalType: "remove", remove: { removed: x.own_leaf } }] })
  p = arborProcess("dave", G2, "c26")
  say("Arbor processes a ts-mls remove commit (2)", p.new_epoch?.epoch === 6 && p.new_epoch.removed.length === 1 &&
    p.new_epoch.removed[0].identity === "hank")
  p = arborProcess("hank", G2, "c26")
  say("the removed Arbor member learns it (2)", p.new_epoch?.removed_self === true)
  gina1 = (await receive(gina1, f("c26"))).newState
  await agree(G2, 6, ["dave"], { tscarol: carol1, tsgina: gina1 })

  step.at = "Arbor commits removing a ts-mls member"
  run("group", "commit", "--state", f("dave"), "--group", G2, "--remove", String(gina1.privatePath.leafIndex), "--commit-out", f("c27"))
  carol1 = (await receive(carol1, f("c27"))).newState
  say("ts-mls processes an Arbor remove commit (2)", carol1.groupContext.epoch === 7n && leaves(carol1) === 2)
  gina1 = (await receive(gina1, f("c27"))).newState
  say("the removed ts-mls member learns it (2)", gina1.groupActiveState.kind === "removedFromGroup")
  await agree(G2, 7, ["dave"], { tscarol: carol1 })
}
