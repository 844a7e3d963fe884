// An MLSClient gRPC server (interop/proto/mls_client.proto, the working
// group's harness interface) around ts-mls, so that Arbor's scenario player
// drives ts-mls the way it drives Arbor.
//
// Usage: node server.mjs --version 1|2 --port PORT
//   --version 1 serves ts-mls 1.6.4 (v1.mjs), 2 ts-mls 2.0.0-rc.10 (v2.mjs).
// It prints "listening on PORT" once it serves (PORT 0 picks a free one).
//
// Everything goes through ts-mls's public API with its defaults
// (capabilities, lifetimes, extensions, padding, key retention); the
// adapters differ only in how each version spells a call. An RPC that
// ts-mls's API cannot express answers UNIMPLEMENTED with the reason.
import grpc from "@grpc/grpc-js"
import protoLoader from "@grpc/proto-loader"
import { randomBytes } from "node:crypto"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Unimplemented } from "./unimplemented.mjs"

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []))
if (!["1", "2"].includes(args.version) || args.port === undefined) {
  console.error("usage: node server.mjs --version 1|2 --port PORT")
  process.exit(2)
}
const lib = await import(args.version === "1" ? "./v1.mjs" : "./v2.mjs")

const here = dirname(fileURLToPath(import.meta.url))
const def = protoLoader.loadSync(join(here, "../../proto/mls_client.proto"), { keepCase: true, longs: Number, defaults: true })
const proto = grpc.loadPackageDefinition(def).mls_client


const u8 = (b) => new Uint8Array(b ?? [])
const hex = (b) => Buffer.from(b).toString("hex")
const eq = (a, b) => a && b && a.length === b.length && a.every((x, i) => x === b[i])

// Handles the runner passes back. A state id names one epoch of one
// member; every new epoch gets a new id, as the harness expects.
let next = 1
const states = new Map() // id -> { state, cs, encrypt, own:Set, pending, identity }
const txs = new Map() // id -> { kp, priv, identity }
const reinits = new Map() // id -> { state, cs, kp, priv, encrypt }
const signers = new Map() // id -> { cs, pub, priv, identity }
// External PSKs, by base64 id as ts-mls looks them up. One table for the
// whole server: the runner's PSK ids are random, and StorePSK may come
// before the client has a state (state_or_transaction_id 0).
const psks = {}

function put(map, v) { const id = next++; map.set(id, v); return id }
function get(map, id, what) {
  const v = map.get(id)
  if (!v) throw new Error(`unknown ${what} ${id}`)
  return v
}
function newState(prev, state, extra = {}) {
  return put(states, { cs: prev.cs, encrypt: prev.encrypt, identity: prev.identity, own: new Set(), ...extra, state })
}

async function keyPackageFor(suite, identity) {
  const k = await lib.keyPackage(suite, identity)
  return { ...k, tx: put(txs, { kp: k.kp, priv: k.priv, identity }) }
}

// leafOf finds the leaf of the member whose credential identity is id.
function leafOf(leaves, id) {
  const i = leaves.findIndex((l) => l && eq(lib.identityOf(l.credential), id))
  if (i < 0) throw new Error(`no member ${Buffer.from(id).toString()}`)
  return i
}

const exts = (list) => (list ?? []).map((e) => ({ type: e.extension_type, data: u8(e.extension_data) }))

// proposalOf turns a harness ProposalDescription into a ts-mls proposal;
// leaves are the group's (for "remove"), groupId its id.
async function proposalOf(d, cs, leaves, groupId) {
  const type = Buffer.from(d.proposal_type).toString()
  switch (type) {
    case "add": return lib.add(lib.decodeKeyPackage(u8(d.key_package)))
    case "remove": return lib.remove(leafOf(leaves, u8(d.removed_id)))
    case "externalPSK": return lib.externalPSK(u8(d.psk_id), randomBytes(cs.kdf.size))
    case "resumptionPSK": return lib.resumptionPSK(groupId, d.epoch_id, randomBytes(cs.kdf.size))
    case "groupContextExtensions": return lib.groupContextExtensions(exts(d.extensions))
    case "reinit": return lib.reinit(u8(d.group_id), d.cipher_suite, exts(d.extensions))
    default: throw new Error(`unknown proposal type ${type}`)
  }
}

// receive processes the proposals the runner passes by reference, except
// the member's own: ts-mls caches its own proposals when it makes them.
async function receive(s, state, proposals) {
  for (const p of proposals ?? []) {
    if (s.own.has(hex(p))) continue
    state = (await lib.process(s.cs, psks, state, u8(p))).state
  }
  return state
}

async function propose(s, proposal) {
  const r = await lib.propose(s.cs, s.state, proposal, !s.encrypt)
  // The member's state changes (the proposal is cached) but keeps its id:
  // the runner goes on using the id it has.
  s.state = r.state
  s.own.add(hex(r.bytes))
  return { proposal: r.bytes }
}

async function commit(req) {
  const s = get(states, req.state_id, "state")
  let state = await receive(s, s.state, req.by_reference)
  const byValue = []
  for (const d of req.by_value ?? []) byValue.push(await proposalOf(d, s.cs, lib.leaves(state), state.groupContext.groupId))
  // createCommit looks resumption PSKs up only in the state it resumes
  // from (makePskIndex(resumingFromState) in createCommit.js, unset outside
  // branch and reinit), so a member cannot commit one of its own group.
  if ([...byValue, ...lib.unapplied(state)].some(lib.isResumptionPSK)) notIn("createCommit cannot commit a resumption PSK proposal")
  // force_path: ts-mls decides on its own whether a commit has a path (it
  // adds one whenever the proposals need one or none are given).
  const r = await lib.commit(s.cs, psks, state, byValue, !s.encrypt, !req.external_tree)
  s.pending = r.state
  return { commit: r.commit, welcome: r.welcome, ratchet_tree: req.external_tree ? await lib.treeBytes(s.cs, r.state) : new Uint8Array() }
}

function mergePending(req) {
  const s = get(states, req.state_id, "state")
  if (!s.pending) throw new Error("no pending commit")
  const id = newState(s, s.pending)
  s.pending = undefined
  return id
}

async function handleCommit(req) {
  const s = get(states, req.state_id, "state")
  let state = await receive(s, s.state, req.proposal)
  state = (await lib.process(s.cs, psks, state, u8(req.commit))).state
  return newState(s, state)
}

// startReinit follows a ReInit commit: the group is suspended, and the
// member makes a KeyPackage for the new group (RFC 9420 section 11.2).
async function startReinit(s, id) {
  const state = get(states, id, "state").state
  if (!lib.isSuspended(state)) throw new Error("the commit did not suspend the group for a ReInit")
  const r = lib.pendingReinit(state)
  const k = await lib.keyPackage(lib.suiteOfReinit(r), s.identity)
  const cs = await lib.impl(lib.suiteOfReinit(r))
  const reinitId = put(reinits, { state, oldCs: s.cs, cs, kp: k.kp, priv: k.priv, reinit: r, encrypt: s.encrypt, identity: s.identity })
  return { reinit_id: reinitId, key_package: k.bytes, epoch_authenticator: lib.epochAuthenticator(state) }
}

// externalSenderBytes is an ExternalSender (RFC 9420 section 12.1.8.1):
// signature_key<V>, then a basic Credential.
function externalSenderBytes(pub, identity) {
  return Buffer.concat([varint(pub.length), pub, Buffer.from([0, 1]), varint(identity.length), identity])
}
function varint(n) {
  if (n < 0x40) return Buffer.from([n])
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff])
  return Buffer.from([0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
}

const notIn = (what) => { throw new Unimplemented(`${lib.name}: ${what}`) }

const handlers = {
  Name: async () => ({ name: lib.name }),
  SupportedCiphersuites: async () => ({ ciphersuites: lib.suites }),

  CreateGroup: async (req) => {
    const cs = await lib.impl(req.cipher_suite)
    const identity = u8(req.identity)
    const k = await lib.keyPackage(req.cipher_suite, identity)
    const state = await lib.createGroup(cs, u8(req.group_id), k.kp, k.priv)
    return { state_id: put(states, { state, cs, encrypt: req.encrypt_handshake, identity, own: new Set() }) }
  },

  CreateKeyPackage: async (req) => {
    const k = await keyPackageFor(req.cipher_suite, u8(req.identity))
    return {
      transaction_id: k.tx, key_package: k.bytes,
      init_priv: k.priv.initPrivateKey, encryption_priv: k.priv.hpkePrivateKey, signature_priv: k.priv.signaturePrivateKey,
    }
  },

  JoinGroup: async (req) => {
    const t = get(txs, req.transaction_id, "transaction")
    const cs = await lib.impl(lib.suiteOfKeyPackage(t.kp))
    const state = await lib.joinWelcome(cs, psks, u8(req.welcome), t.kp, t.priv, u8(req.ratchet_tree))
    const id = put(states, { state, cs, encrypt: req.encrypt_handshake, identity: t.identity, own: new Set() })
    return { state_id: id, epoch_authenticator: lib.epochAuthenticator(state) }
  },

  ExternalJoin: async (req) => {
    if (req.psks?.length) notIn("joinGroupExternal takes no PSKs")
    const gi = u8(req.group_info)
    const suite = lib.groupInfoSuite(gi)
    const cs = await lib.impl(suite)
    const identity = u8(req.identity)
    const k = await lib.keyPackage(suite, identity)
    const r = await lib.externalJoin(cs, gi, u8(req.ratchet_tree), k.kp, k.priv, req.remove_prior)
    const id = put(states, { state: r.state, cs, encrypt: req.encrypt_handshake, identity, own: new Set() })
    return { state_id: id, commit: r.commit, epoch_authenticator: lib.epochAuthenticator(r.state) }
  },

  GroupInfo: async (req) => {
    const s = get(states, req.state_id, "state")
    const r = await lib.groupInfo(s.cs, s.state, req.external_tree)
    return { group_info: r.groupInfo, ratchet_tree: r.tree }
  },

  StateAuth: async (req) => ({ state_auth_secret: lib.epochAuthenticator(get(states, req.state_id, "state").state) }),

  Export: async (req) => {
    const s = get(states, req.state_id, "state")
    return { exported_secret: await lib.exporter(s.cs, s.state, req.label, u8(req.context), req.key_length) }
  },

  Protect: async (req) => {
    const s = get(states, req.state_id, "state")
    const r = await lib.protect(s.cs, s.state, u8(req.authenticated_data), u8(req.plaintext))
    s.state = r.state
    return { ciphertext: r.bytes }
  },

  Unprotect: async (req) => {
    const s = get(states, req.state_id, "state")
    const r = await lib.process(s.cs, psks, s.state, u8(req.ciphertext))
    if (r.application === undefined) throw new Error("not an application message")
    s.state = r.state
    return { authenticated_data: r.aad, plaintext: r.application }
  },

  StorePSK: async (req) => {
    psks[Buffer.from(req.psk_id).toString("base64")] = u8(req.psk_secret)
    return {}
  },

  AddProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.add(lib.decodeKeyPackage(u8(req.key_package))))
  },
  UpdateProposal: async () => notIn("no API makes an Update proposal (a LeafNode signed for an update)"),
  RemoveProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.remove(leafOf(lib.leaves(s.state), u8(req.removed_id))))
  },
  ExternalPSKProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.externalPSK(u8(req.psk_id), randomBytes(s.cs.kdf.size)))
  },
  ResumptionPSKProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.resumptionPSK(s.state.groupContext.groupId, req.epoch_id, randomBytes(s.cs.kdf.size)))
  },
  GroupContextExtensionsProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.groupContextExtensions(exts(req.extensions)))
  },

  Commit: commit,
  HandlePendingCommit: async (req) => {
    const id = mergePending(req)
    return { state_id: id, epoch_authenticator: lib.epochAuthenticator(states.get(id).state) }
  },
  HandleCommit: async (req) => {
    const id = await handleCommit(req)
    return { state_id: id, epoch_authenticator: lib.epochAuthenticator(states.get(id).state) }
  },

  ReInitProposal: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.reinit(u8(req.group_id), req.cipher_suite, exts(req.extensions)))
  },
  ReInitCommit: commit,
  HandlePendingReInitCommit: async (req) => startReinit(get(states, req.state_id, "state"), mergePending(req)),
  HandleReInitCommit: async (req) => startReinit(get(states, req.state_id, "state"), await handleCommit(req)),
  ReInitWelcome: async (req) => {
    if (!req.external_tree) notIn("reinitCreateNewGroup cannot put the ratchet tree in the Welcome")
    const r = get(reinits, req.reinit_id, "reinit")
    const kps = (req.key_package ?? []).map((b) => lib.decodeKeyPackage(u8(b)))
    const res = await lib.reinitWelcome(r.oldCs, r.state, r.kp, r.priv, kps, r.reinit)
    const id = put(states, { state: res.state, cs: r.cs, encrypt: r.encrypt, identity: r.identity, own: new Set() })
    return {
      state_id: id, welcome: res.welcome, epoch_authenticator: lib.epochAuthenticator(res.state),
      ratchet_tree: req.external_tree ? await lib.treeBytes(r.cs, res.state) : new Uint8Array(),
    }
  },
  HandleReInitWelcome: async (req) => {
    const r = get(reinits, req.reinit_id, "reinit")
    const state = await lib.joinReinit(r.cs, r.state, u8(req.welcome), r.kp, r.priv, u8(req.ratchet_tree))
    const id = put(states, { state, cs: r.cs, encrypt: r.encrypt, identity: r.identity, own: new Set() })
    return { state_id: id, epoch_authenticator: lib.epochAuthenticator(state) }
  },

  CreateBranch: async (req) => {
    if (req.extensions?.length) notIn("branchGroup takes no group context extensions (it copies the group's)")
    if (!req.external_tree) notIn("branchGroup cannot put the ratchet tree in the Welcome")
    const s = get(states, req.state_id, "state")
    const k = await lib.keyPackage(lib.suiteOf(s.state), s.identity)
    const kps = (req.key_packages ?? []).map((b) => lib.decodeKeyPackage(u8(b)))
    const r = await lib.branch(s.cs, s.state, k.kp, k.priv, kps, u8(req.group_id))
    const id = newState(s, r.state)
    return {
      state_id: id, welcome: r.welcome, epoch_authenticator: lib.epochAuthenticator(r.state),
      ratchet_tree: req.external_tree ? await lib.treeBytes(s.cs, r.state) : new Uint8Array(),
    }
  },
  HandleBranch: async (req) => {
    const s = get(states, req.state_id, "state")
    const t = get(txs, req.transaction_id, "transaction")
    const state = await lib.joinBranch(s.cs, s.state, u8(req.welcome), t.kp, t.priv, u8(req.ratchet_tree))
    const id = newState(s, state)
    return { state_id: id, epoch_authenticator: lib.epochAuthenticator(state) }
  },

  NewMemberAddProposal: async (req) => {
    const gi = u8(req.group_info)
    const suite = lib.groupInfoSuite(gi)
    const cs = await lib.impl(suite)
    const k = await keyPackageFor(suite, u8(req.identity))
    return {
      transaction_id: k.tx, proposal: await lib.proposeAddExternal(cs, gi, k.kp, k.priv),
      init_priv: k.priv.initPrivateKey, encryption_priv: k.priv.hpkePrivateKey, signature_priv: k.priv.signaturePrivateKey,
    }
  },
  CreateExternalSigner: async (req) => {
    const cs = await lib.impl(req.cipher_suite)
    const { publicKey, signKey } = await cs.signature.keygen()
    const identity = u8(req.identity)
    const id = put(signers, { cs, pub: publicKey, priv: signKey, identity })
    return { signer_id: id, external_sender: externalSenderBytes(publicKey, identity) }
  },
  AddExternalSigner: async (req) => {
    const s = get(states, req.state_id, "state")
    return propose(s, lib.addExternalSender(s.state, u8(req.external_sender)))
  },
  ExternalSignerProposal: async (req) => {
    const signer = get(signers, req.signer_id, "signer")
    const gi = u8(req.group_info)
    const gc = lib.groupContextOf(gi)
    const leaves = req.ratchet_tree?.length ? lib.treeLeaves(u8(req.ratchet_tree)) : lib.groupInfoLeaves(gi)
    const cs = await lib.impl(gc.cipherSuite)
    const proposal = await proposalOf(req.description, cs, leaves, gc.groupId)
    return { proposal: await lib.proposeExternal(cs, gi, proposal, signer.pub, signer.priv) }
  },

  Free: async (req) => { states.delete(req.state_id); return {} },
}

function wrap(name, fn) {
  return (call, cb) => {
    fn(call.request).then((res) => cb(null, res), (e) => {
      const code = e instanceof Unimplemented ? grpc.status.UNIMPLEMENTED : grpc.status.UNKNOWN
      if (process.env.TS_MLS_PEER_DEBUG) console.error(name, e)
      const details = e instanceof Unimplemented ? e.message : `${e.constructor?.name ?? "Error"}: ${e.message ?? e}`
      cb({ code, details: details.slice(0, 500) })
    })
  }
}

const server = new grpc.Server()
server.addService(proto.MLSClient.service, Object.fromEntries(Object.entries(handlers).map(([k, v]) => [k, wrap(k, v)])))
server.bindAsync(`127.0.0.1:${args.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err.message)
    process.exit(1)
  }
  console.log(`listening on ${port}`)
})
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.forceShutdown() || process.exit(0))
