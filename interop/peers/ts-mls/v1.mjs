// The ts-mls 1.6.4 side of the MLSClient server (see server.mjs and
// v2.mjs, which has the same exports). ts-mls 1.6.4 takes positional
// arguments and names enumerations (wire formats, proposal, extension,
// credential and PSK types, cipher suites) by their names.
import * as mls from "ts-mls-1"
// ts-mls 1.6.4 exports every module file ("./*.js" in its package.json);
// its index has no decoder for a bare ratchet tree.
import { decodeRatchetTree } from "ts-mls-1/ratchetTree.js"
import { reader } from "./v2.mjs"

export const name = "ts-mls 1.6.4"
const idOf = mls.ciphersuites
const nameOf = new Map(Object.entries(idOf).map(([n, id]) => [id, n]))
export const suites = [...nameOf.keys()]
const extensionName = new Map(Object.entries(mls.defaultExtensionTypes).map(([n, id]) => [id, n]))

const impls = new Map()
export async function impl(suite) {
  if (typeof suite === "string") suite = idOf[suite]
  if (!impls.has(suite)) {
    const n = nameOf.get(suite)
    if (!n) throw new Error(`unsupported cipher suite ${suite}`)
    impls.set(suite, await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(n)))
  }
  return impls.get(suite)
}
export const suiteOf = (state) => idOf[state.groupContext.cipherSuite]
export const suiteOfKeyPackage = (kp) => idOf[kp.cipherSuite]
const pskIndex = (state, psks) => mls.makePskIndex(state, psks ?? {})

const enc = (m) => mls.encodeMlsMessage({ version: "mls10", ...m })
function dec(bytes, wireformat) {
  const m = mls.decodeMlsMessage(bytes, 0)?.[0]
  if (!m) throw new Error("not an MLSMessage")
  if (wireformat && m.wireformat !== wireformat) throw new Error(`not a ${wireformat}`)
  return m
}
function decodeTree(b) {
  const t = decodeRatchetTree(b, 0)
  if (!t || t[1] !== b.length) throw new Error("malformed ratchet tree")
  return t[0]
}
const tree = (b) => (b?.length ? decodeTree(b) : undefined)

const basic = (identity) => ({ credentialType: "basic", identity })
export const identityOf = (cred) => cred?.identity

// KeyPackages with ts-mls's defaults: defaultCapabilities(), defaultLifetime
// (0 to 2^63-1) and no extensions.
export async function keyPackage(suite, identity) {
  const cs = await impl(suite)
  const { publicPackage, privatePackage } = await mls.generateKeyPackage(basic(identity), mls.defaultCapabilities(), mls.defaultLifetime, [], cs)
  return { kp: publicPackage, priv: privatePackage, bytes: enc({ wireformat: "mls_key_package", keyPackage: publicPackage }) }
}
export const decodeKeyPackage = (b) => dec(b, "mls_key_package").keyPackage

export const createGroup = (cs, groupId, kp, priv) => mls.createGroup(groupId, kp, priv, [], cs)

export async function joinWelcome(cs, psks, welcome, kp, priv, t) {
  return mls.joinGroup(dec(welcome, "mls_welcome").welcome, kp, priv, pskIndex(undefined, psks), cs, tree(t))
}

export async function externalJoin(cs, groupInfo, t, kp, priv, resync) {
  const { publicMessage, newState } = await mls.joinGroupExternal(dec(groupInfo, "mls_group_info").groupInfo, kp, priv, resync, cs, tree(t))
  return { state: newState, commit: enc({ wireformat: "mls_public_message", publicMessage }) }
}

export const groupInfoSuite = (b) => idOf[dec(b, "mls_group_info").groupInfo.groupContext.cipherSuite]

export async function treeBytes(cs, state) {
  const gi = await mls.createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)
  return gi.extensions.find((e) => e.extensionType === "ratchet_tree").extensionData
}

export async function groupInfo(cs, state, externalTree) {
  if (externalTree) {
    const gi = await mls.createGroupInfoWithExternalPub(state, [], cs)
    return { groupInfo: enc({ wireformat: "mls_group_info", groupInfo: gi }), tree: await treeBytes(cs, state) }
  }
  const gi = await mls.createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)
  return { groupInfo: enc({ wireformat: "mls_group_info", groupInfo: gi }), tree: new Uint8Array() }
}

export const epochAuthenticator = (state) => state.keySchedule.epochAuthenticator
export const exporter = (cs, state, label, context, length) => mls.mlsExporter(state.keySchedule.exporterSecret, label, context, length, cs)

export async function protect(cs, state, aad, plaintext) {
  const r = await mls.createApplicationMessage(state, plaintext, cs, aad)
  return { state: r.newState, bytes: enc({ wireformat: "mls_private_message", privateMessage: r.privateMessage }) }
}

export async function process(cs, psks, state, bytes) {
  const m = dec(bytes)
  if (m.wireformat === "mls_public_message") {
    const r = await mls.processPublicMessage(state, m.publicMessage, pskIndex(state, psks), cs, mls.acceptAll)
    return { state: r.newState }
  }
  if (m.wireformat !== "mls_private_message") throw new Error("not a framed message")
  const r = await mls.processPrivateMessage(state, m.privateMessage, pskIndex(state, psks), cs, mls.acceptAll)
  return { state: r.newState, application: r.kind === "applicationMessage" ? r.message : undefined, aad: m.privateMessage.authenticatedData }
}

export async function propose(cs, state, proposal, publicMessage) {
  const r = await mls.createProposal(state, publicMessage, proposal, cs)
  return { state: r.newState, bytes: enc(r.message) }
}

export const add = (kp) => ({ proposalType: "add", add: { keyPackage: kp } })
export const remove = (leaf) => ({ proposalType: "remove", remove: { removed: leaf } })
export const externalPSK = (id, nonce) => ({ proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: id, pskNonce: nonce } } })
export const resumptionPSK = (groupId, epoch, nonce) => ({
  proposalType: "psk",
  psk: { preSharedKeyId: { psktype: "resumption", usage: "application", pskGroupId: groupId, pskEpoch: BigInt(epoch), pskNonce: nonce } },
})
// ts-mls 1.6.4 holds extension data encoded, and names the default types.
const extension = ({ type, data }) => ({ extensionType: extensionName.get(type) ?? type, extensionData: data })
export const groupContextExtensions = (exts) => ({ proposalType: "group_context_extensions", groupContextExtensions: { extensions: exts.map(extension) } })
export const reinit = (groupId, suite, exts) => ({
  proposalType: "reinit", reinit: { groupId, version: "mls10", cipherSuite: nameOf.get(suite), extensions: exts.map(extension) },
})

export async function commit(cs, psks, state, extraProposals, publicMessage, inlineTree) {
  const r = await mls.createCommit({ state, cipherSuite: cs, pskIndex: pskIndex(state, psks) }, {
    extraProposals, wireAsPublicMessage: publicMessage, ratchetTreeExtension: inlineTree,
  })
  return { state: r.newState, commit: enc(r.commit), welcome: r.welcome ? enc({ wireformat: "mls_welcome", welcome: r.welcome }) : new Uint8Array() }
}

const leavesOf = (t) => t.filter((n, i) => i % 2 === 0).map((n) => n?.leaf)
export const leaves = (state) => leavesOf(state.ratchetTree)
export const treeLeaves = (b) => leavesOf(decodeTree(b))
export function groupInfoLeaves(b) {
  const t = dec(b, "mls_group_info").groupInfo.extensions.find((e) => e.extensionType === "ratchet_tree")
  if (!t) throw new Error("GroupInfo without a ratchet tree")
  return treeLeaves(t.extensionData)
}
export const isSuspended = (state) => state.groupActiveState.kind === "suspendedPendingReinit"
export const pendingReinit = (state) => state.groupActiveState.reinit
export const suiteOfReinit = (r) => idOf[r.cipherSuite]
// createCommit takes the PSK index from its caller in 1.6.4, so resumption
// PSKs of the group itself resolve.
export const unapplied = () => []
export const isResumptionPSK = () => false

export async function branch(cs, state, kp, priv, memberKPs, groupId) {
  const r = await mls.branchGroup(state, kp, priv, memberKPs, groupId, cs)
  return { state: r.newState, welcome: enc({ wireformat: "mls_welcome", welcome: r.welcome }) }
}
export async function joinBranch(cs, oldState, welcome, kp, priv, t) {
  return mls.joinGroupFromBranch(oldState, dec(welcome, "mls_welcome").welcome, kp, priv, tree(t), cs)
}
export async function reinitWelcome(cs, state, kp, priv, memberKPs, r) {
  const res = await mls.reinitCreateNewGroup(state, kp, priv, memberKPs, r.groupId, r.cipherSuite, r.extensions)
  return { state: res.newState, welcome: enc({ wireformat: "mls_welcome", welcome: res.welcome }) }
}
export async function joinReinit(cs, suspendedState, welcome, kp, priv, t) {
  return mls.joinGroupFromReinit(suspendedState, dec(welcome, "mls_welcome").welcome, kp, priv, tree(t))
}

export async function proposeAddExternal(cs, groupInfo, kp, priv) {
  return enc(await mls.proposeAddExternal(dec(groupInfo, "mls_group_info").groupInfo, kp, priv, cs))
}
export async function proposeExternal(cs, groupInfo, proposal, pub, priv) {
  return enc(await mls.proposeExternal(dec(groupInfo, "mls_group_info").groupInfo, proposal, pub, priv, cs))
}
export function groupContextOf(b) {
  const gc = dec(b, "mls_group_info").groupInfo.groupContext
  return { ...gc, cipherSuite: idOf[gc.cipherSuite] }
}

// addExternalSender proposes the group's extensions with the sender added
// to external_senders, written as RFC 9420 section 12.1.8.1 has it (a
// list). ts-mls 1.6.4 itself reads that extension as one bare
// ExternalSender (decodeExternalSender in validateExternalSenders and
// proposeExternal).
export function addExternalSender(state, sender) {
  const exts = state.groupContext.extensions
  const old = exts.find((e) => e.extensionType === "external_senders")
  let items = []
  if (old) {
    const r = reader(old.extensionData)
    items = [r.vec()]
    r.end()
  }
  const body = Buffer.concat([...items, sender])
  const data = Buffer.concat([varint(body.length), body])
  return {
    proposalType: "group_context_extensions",
    groupContextExtensions: { extensions: [...exts.filter((e) => e !== old), { extensionType: "external_senders", extensionData: data }] },
  }
}
function varint(n) {
  if (n < 0x40) return Buffer.from([n])
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff])
  return Buffer.from([0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
}
