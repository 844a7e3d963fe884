// The ts-mls 2.0.0-rc.10 side of the MLSClient server (see server.mjs for
// the interface every adapter implements). ts-mls 2.0 takes one params
// object per call and names enumerations by their numeric code points.
import * as mls from "ts-mls-2"
// The one import from outside ts-mls's public index: it exports no decoder
// for a bare ratchet tree (the harness's ratchet_tree field), only the
// GroupInfo extension that carries one encoded. The encoding side needs no
// such import (see treeBytes).
import { ratchetTreeDecoder } from "./node_modules/ts-mls-2/dist/src/ratchetTree.js"

const { defaultProposalTypes: P, defaultExtensionTypes: E, wireformats: W, pskTypes, resumptionPSKUsages } = mls

export const name = "ts-mls 2.0.0-rc.10"
const byId = new Map(Object.entries(mls.ciphersuites).map(([n, id]) => [id, n]))
export const suites = [...byId.keys()]

const impls = new Map()
export async function impl(suite) {
  if (!impls.has(suite)) {
    const n = byId.get(suite)
    if (!n) throw new Error(`unsupported cipher suite ${suite}`)
    impls.set(suite, await mls.getCiphersuiteImpl(n))
  }
  return impls.get(suite)
}
export const suiteOf = (state) => state.groupContext.cipherSuite

// ctx is the MlsContext of one call: ts-mls's defaults everywhere, the
// testing authentication service (the harness has no AS), and the
// external PSKs the runner stored.
const ctx = (cs, psks) => ({ cipherSuite: cs, authService: mls.unsafeTestingAuthenticationService, externalPsks: psks })

const enc = (m) => mls.encode(mls.mlsMessageEncoder, { version: mls.protocolVersions.mls10, ...m })
function dec(bytes, wireformat) {
  const m = mls.decode(mls.mlsMessageDecoder, bytes)
  if (!m) throw new Error("not an MLSMessage")
  if (wireformat && m.wireformat !== W[wireformat]) throw new Error(`not a ${wireformat}`)
  return m
}
const decodeTree = (b) => {
  const t = mls.decode(ratchetTreeDecoder, b)
  if (!t) throw new Error("malformed ratchet tree")
  return t
}

const basic = (identity) => ({ credentialType: mls.defaultCredentialTypes.basic, identity })
export const identityOf = (cred) => cred?.identity

export async function keyPackage(suite, identity) {
  const cs = await impl(suite)
  const { publicPackage, privatePackage } = await mls.generateKeyPackage({ credential: basic(identity), cipherSuite: cs })
  return { kp: publicPackage, priv: privatePackage, bytes: enc({ wireformat: W.mls_key_package, keyPackage: publicPackage }) }
}
export const decodeKeyPackage = (b) => dec(b, "mls_key_package").keyPackage

export async function createGroup(cs, groupId, kp, priv) {
  return mls.createGroup({ context: ctx(cs, {}), groupId, keyPackage: kp, privateKeyPackage: priv })
}

export async function joinWelcome(cs, psks, welcome, kp, priv, tree) {
  return mls.joinGroup({
    context: ctx(cs, psks), welcome: dec(welcome, "mls_welcome").welcome, keyPackage: kp, privateKeys: priv,
    ratchetTree: tree?.length ? decodeTree(tree) : undefined,
  })
}

export async function externalJoin(cs, groupInfo, tree, kp, priv, resync) {
  const { publicMessage, newState } = await mls.joinGroupExternal({
    context: ctx(cs, {}), groupInfo: dec(groupInfo, "mls_group_info").groupInfo, keyPackage: kp, privateKeys: priv,
    resync, tree: tree?.length ? decodeTree(tree) : undefined,
  })
  return { state: newState, commit: enc({ wireformat: W.mls_public_message, publicMessage }) }
}

export const groupInfoSuite = (b) => dec(b, "mls_group_info").groupInfo.groupContext.cipherSuite

// treeBytes is the state's ratchet tree in its TLS encoding, taken from the
// ratchet_tree extension of a GroupInfo that ts-mls makes.
export async function treeBytes(cs, state) {
  const gi = await mls.createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)
  return gi.extensions.find((e) => e.extensionType === E.ratchet_tree).extensionData
}

export async function groupInfo(cs, state, externalTree) {
  if (externalTree) {
    const gi = await mls.createGroupInfoWithExternalPub(state, [], cs)
    return { groupInfo: enc({ wireformat: W.mls_group_info, groupInfo: gi }), tree: await treeBytes(cs, state) }
  }
  const gi = await mls.createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)
  return { groupInfo: enc({ wireformat: W.mls_group_info, groupInfo: gi }), tree: new Uint8Array() }
}

export const epochAuthenticator = (state) => state.keySchedule.epochAuthenticator
export const exporter = (cs, state, label, context, length) => mls.mlsExporter(state.keySchedule.exporterSecret, label, context, length, cs)

export async function protect(cs, state, aad, plaintext) {
  const r = await mls.createApplicationMessage({ context: ctx(cs, {}), state, message: plaintext, authenticatedData: aad })
  return { state: r.newState, bytes: enc(r.message) }
}

// process handles a PublicMessage or PrivateMessage: an application
// message, a proposal (cached) or a commit.
export async function process(cs, psks, state, bytes) {
  const m = dec(bytes)
  if (m.wireformat !== W.mls_public_message && m.wireformat !== W.mls_private_message) throw new Error("not a framed message")
  // Not processMessage: for a PrivateMessage it drops the context's
  // external PSKs (it passes externalPsks: {} to processPrivateMessage), so
  // a commit with an external PSK would fail in private handshakes only.
  if (m.wireformat === W.mls_public_message) {
    const r = await mls.processPublicMessage({ context: ctx(cs, psks), state, publicMessage: m.publicMessage, callback: mls.acceptAll })
    return { state: r.newState }
  }
  const r = await mls.processPrivateMessage({ context: ctx(cs, psks), state, privateMessage: m.privateMessage, callback: mls.acceptAll })
  return { state: r.newState, application: r.kind === "applicationMessage" ? r.message : undefined, aad: m.privateMessage.authenticatedData }
}

export async function propose(cs, state, proposal, publicMessage) {
  const r = await mls.createProposal({ context: ctx(cs, {}), state, wireAsPublicMessage: publicMessage, proposal })
  return { state: r.newState, bytes: enc(r.message) }
}

// Proposal builders, from what the harness sends.
export const add = (kp) => ({ proposalType: P.add, add: { keyPackage: kp } })
export const remove = (leaf) => ({ proposalType: P.remove, remove: { removed: leaf } })
export const externalPSK = (id, nonce) => ({ proposalType: P.psk, psk: { preSharedKeyId: { psktype: pskTypes.external, pskId: id, pskNonce: nonce } } })
export const resumptionPSK = (groupId, epoch, nonce) => ({
  proposalType: P.psk,
  psk: { preSharedKeyId: { psktype: pskTypes.resumption, usage: resumptionPSKUsages.application, pskGroupId: groupId, pskEpoch: BigInt(epoch), pskNonce: nonce } },
})
export const groupContextExtensions = (exts) => ({ proposalType: P.group_context_extensions, groupContextExtensions: { extensions: exts.map(extension) } })
export const reinit = (groupId, suite, exts) => ({
  proposalType: P.reinit, reinit: { groupId, version: mls.protocolVersions.mls10, cipherSuite: suite, extensions: exts.map(extension) },
})

// extension turns a harness Extension (type, data) into ts-mls's form:
// ts-mls 2.0 holds required_capabilities and external_senders decoded, and
// re-encodes them when it writes the group context.
function extension({ type, data }) {
  if (type === E.required_capabilities) {
    const r = reader(data)
    const v = { extensionTypes: r.u16s(), proposalTypes: r.u16s(), credentialTypes: r.u16s() }
    r.end()
    return { extensionType: type, extensionData: v }
  }
  if (type === E.external_senders) {
    // RFC 9420 section 12.1.8.1: extension_data is ExternalSender
    // external_senders<V>, a list. ts-mls 2.0 holds one ExternalSender
    // there (extension.js, externalSenderDecoder on the whole data), so a
    // list it can hold is one of exactly one sender, written bare.
    const r = reader(data)
    const list = r.vec()
    r.end()
    if (list.length === 0) throw new Error("external_senders: ts-mls 2.0 holds one ExternalSender there, not a list (here empty)")
    const s = reader(list)
    const signaturePublicKey = s.vec()
    const credentialType = s.u16()
    const identity = s.vec()
    if (!s.done()) throw new Error("external_senders: ts-mls 2.0 holds one ExternalSender there, not a list (here of several)")
    if (credentialType !== mls.defaultCredentialTypes.basic) throw new Error("external sender: only basic credentials")
    return { extensionType: type, extensionData: { signaturePublicKey, credential: basic(identity) } }
  }
  return { extensionType: type, extensionData: data }
}

// reader reads the TLS presentation language with MLS varints (RFC 9420
// section 2.1.2), for the few structures the adapter parses itself.
export function reader(b) {
  let i = 0
  const need = (n) => { if (i + n > b.length) throw new Error("truncated"); }
  const varint = () => {
    need(1)
    const size = 1 << (b[i] >> 6)
    if (size > 4) throw new Error("bad varint")
    need(size)
    let n = b[i] & 0x3f
    for (let k = 1; k < size; k++) n = n * 256 + b[i + k]
    i += size
    return n
  }
  const r = {
    u16() { need(2); const v = (b[i] << 8) | b[i + 1]; i += 2; return v },
    vec() { const n = varint(); need(n); const v = b.subarray(i, i + n); i += n; return v },
    u16s() { const v = reader(r.vec()); const out = []; while (!v.done()) out.push(v.u16()); return out },
    done: () => i === b.length,
    end() { if (i !== b.length) throw new Error("trailing bytes") },
  }
  return r
}

export async function commit(cs, psks, state, extraProposals, publicMessage, inlineTree) {
  const r = await mls.createCommit({
    context: ctx(cs, psks), state, extraProposals, wireAsPublicMessage: publicMessage, ratchetTreeExtension: inlineTree,
  })
  return { state: r.newState, commit: enc(r.commit), welcome: r.welcome ? enc(r.welcome) : new Uint8Array() }
}

export const leaves = (state) => state.ratchetTree.filter((n, i) => i % 2 === 0).map((n) => n?.leaf)
export const ownLeafIndex = (state) => state.privatePath.leafIndex
export const isSuspended = (state) => state.groupActiveState.kind === "suspendedPendingReinit"
export const pendingReinit = (state) => state.groupActiveState.reinit
export const suiteOfReinit = (r) => r.cipherSuite

export async function branch(cs, state, kp, priv, memberKPs, groupId, inlineTree) {
  // branchGroup always puts the tree in the Welcome (ratchetTreeExtension
  // is not among its parameters), which a joiner given the tree out of
  // band also accepts.
  void inlineTree
  const r = await mls.branchGroup({ context: ctx(cs, {}), state, keyPackage: kp, privateKeyPackage: priv, memberKeyPackages: memberKPs, newGroupId: groupId })
  return { state: r.newState, welcome: enc(r.welcome) }
}
export async function joinBranch(cs, oldState, welcome, kp, priv, tree) {
  return mls.joinGroupFromBranch({
    context: ctx(cs, {}), oldState, welcome: dec(welcome, "mls_welcome").welcome, keyPackage: kp, privateKeyPackage: priv,
    ratchetTree: tree?.length ? decodeTree(tree) : undefined,
  })
}
export async function reinitWelcome(cs, state, kp, priv, memberKPs, r) {
  const res = await mls.reinitCreateNewGroup({
    context: ctx(cs, {}), state, keyPackage: kp, privateKeyPackage: priv, memberKeyPackages: memberKPs,
    groupId: r.groupId, cipherSuite: byId.get(r.cipherSuite), extensions: r.extensions,
  })
  return { state: res.newState, welcome: enc(res.welcome) }
}
export async function joinReinit(cs, suspendedState, welcome, kp, priv, tree) {
  return mls.joinGroupFromReinit({
    context: ctx(cs, {}), suspendedState, welcome: dec(welcome, "mls_welcome").welcome, keyPackage: kp, privateKeyPackage: priv,
    ratchetTree: tree?.length ? decodeTree(tree) : undefined,
  })
}

export async function proposeAddExternal(cs, groupInfo, kp, priv) {
  return enc(await mls.proposeAddExternal(dec(groupInfo, "mls_group_info").groupInfo, kp, priv, cs))
}
export async function proposeExternal(cs, groupInfo, proposal, pub, priv) {
  return enc(await mls.proposeExternal(dec(groupInfo, "mls_group_info").groupInfo, proposal, pub, priv, cs))
}
export const groupContextOf = (b) => dec(b, "mls_group_info").groupInfo.groupContext
export const extensionTypeOf = (e) => e.extensionType
export const suiteOfKeyPackage = (kp) => kp.cipherSuite

// addExternalSender is a GroupContextExtensions proposal that keeps the
// group's extensions and adds the sender. ts-mls 2.0 holds at most one
// external sender (see extension above).
export function addExternalSender(state, sender) {
  const others = state.groupContext.extensions.filter((e) => e.extensionType !== E.external_senders)
  if (others.length !== state.groupContext.extensions.length) throw new Error("external_senders: ts-mls 2.0 holds one ExternalSender there, not a list, and the group has one")
  const list = Buffer.concat([varint(sender.length), sender])
  return { proposalType: P.group_context_extensions, groupContextExtensions: { extensions: [...others, extension({ type: E.external_senders, data: list })] } }
}
function varint(n) {
  if (n < 0x40) return Buffer.from([n])
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff])
  return Buffer.from([0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
}
const treeLeavesOf = (tree) => tree.filter((n, i) => i % 2 === 0).map((n) => n?.leaf)
export const treeLeaves = (b) => treeLeavesOf(decodeTree(b))
export function groupInfoLeaves(b) {
  const t = dec(b, "mls_group_info").groupInfo.extensions.find((e) => e.extensionType === E.ratchet_tree)
  if (!t) throw new Error("GroupInfo without a ratchet tree")
  return treeLeaves(t.extensionData)
}
export const unapplied = (state) => Object.values(state.unappliedProposals).map((p) => p.proposal)
export const isResumptionPSK = (p) => p.proposalType === P.psk && p.psk.preSharedKeyId.psktype === pskTypes.resumption
