// Measures ts-mls (npm) on the operations of `mls bench` and prints its
// JSON-lines format, one object per line:
//   {"op","suite","members","shape","runs","median_ns","min_ns","max_ns","bytes"}
// Usage: node bench.mjs [--members LIST] [--runs K] [--ops LIST] [--shape full|sparse|both]
//
// The n-member group is built the fastest honest way ts-mls allows.
// Sparse shape (every parent blank): member 0 creates the group and adds
// the n-1 others in one commit, which has no path; member 0 commits and
// sends, the last member (joined from that Welcome) processes, as in mls
// bench. Full shape (every parent set): members join one at a time, each
// added by the previous one and committing with a path at once, which sets
// its direct path and clears the unmerged leaves; member 0 processes every
// one of those commits. The roles are then swapped: the last member
// commits and sends, member 0 processes (both the root away from each
// other, as in mls bench). Building the full shape costs time quadratic in
// n (a join and two processed commits per member): fine at 100 members,
// about an hour at 1,000.
// ts-mls states are immutable values, so a commit is "discarded" by
// keeping the state it was made from.
//
//   join       a new member joins from a Welcome, ratchet tree out of band
//              (joinGroup's ratchetTree argument); bytes: the Welcome
//   commit     an empty commit (ts-mls always includes a path in it)
//   process    the last member processes that commit
//   add        a commit adding one member (bytes: commit plus Welcome;
//              tree out of band: no ratchet_tree extension)
//   add1000    a commit adding 1,000 members (bytes: commit plus Welcome)
//   remove     a commit removing member n/2
//   protect    a 1 KiB application message sent
//   unprotect  that message processed by the last member (bytes 0)
//   state      no timing; bytes: encodeGroupState of member 0's state
// Setup is not timed. Commits are PrivateMessages, ts-mls's default.
import {
  createApplicationMessage, createCommit, createGroup, joinGroup, processMessage,
  getCiphersuiteImpl, getCiphersuiteFromName, defaultCapabilities,
  emptyPskIndex, generateKeyPackage, encodeMlsMessage, encodeGroupState, acceptAll,
} from "ts-mls"

const allOps = ["join", "commit", "process", "add", "add1000", "remove", "protect", "unprotect", "state"]
const usage = "usage: node bench.mjs [--members LIST] [--runs K] [--ops LIST] [--shape sparse]"

function parseArgs(argv) {
  const opts = { members: [100, 1000], runs: 5, ops: allOps, shapes: ["sparse"] }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i], value = argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value\n${usage}`)
    switch (flag) {
      case "--members":
        opts.members = value.split(",").map((s) => {
          const n = Number(s.trim())
          if (!Number.isInteger(n) || n < 2) throw new Error(`bad group size ${JSON.stringify(s)}: need a number of at least 2`)
          return n
        })
        break
      case "--runs":
        opts.runs = Number(value)
        if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs must be at least 1")
        break
      case "--ops":
        opts.ops = value.split(",").map((s) => s.trim())
        for (const op of opts.ops)
          if (!allOps.includes(op)) throw new Error(`unknown operation ${JSON.stringify(op)} (known: ${allOps.join(" ")})`)
        break
      case "--shape":
        if (!["full", "sparse", "both"].includes(value)) throw new Error(`bad shape ${JSON.stringify(value)}: full, sparse or both`)
        opts.shapes = value === "both" ? ["full", "sparse"] : [value]
        break
      default:
        throw new Error(`unknown flag ${flag}\n${usage}`)
    }
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const suite = 1
const impl = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"))
const enc = new TextEncoder()
// ts-mls's defaultLifetime never ends; a bounded one, as a real client
// would use (RFC 9420 section 7.2).
const now = BigInt(Math.floor(Date.now() / 1000))
const lifetime = { notBefore: now - 3600n, notAfter: now + 30n * 86400n }
const keyPackage = (name) => generateKeyPackage({ credentialType: "basic", identity: enc.encode(name) },
  defaultCapabilities(), lifetime, [], impl)
const addProposal = (kp) => ({ proposalType: "add", add: { keyPackage: kp.publicPackage } })
const size = (...msgs) => msgs.reduce((total, m) => total + (m ? encodeMlsMessage(m).length : 0), 0)
const welcomeMessage = (welcome) => welcome && { version: "mls10", wireformat: "mls_welcome", welcome }
const elapsed = (start) => Number(process.hrtime.bigint() - start)

function timings(ds, bytes) {
  ds.sort((a, b) => a - b)
  return { runs: ds.length, median_ns: ds[Math.floor(ds.length / 2)], min_ns: ds[0], max_ns: ds[ds.length - 1], bytes }
}

async function keyPackages(k, prefix) {
  const kps = []
  for (let i = 0; i < k; i++) kps.push(await keyPackage(`${prefix} ${i}`))
  return kps
}

// sparseGroup returns member 0 and the last member of an n-member group
// whose parents are all blank.
async function sparseGroup(n) {
  const creator = await keyPackage("member 0")
  const others = await keyPackages(n - 1, "member")
  const state = await createGroup(enc.encode("bench group"), creator.publicPackage, creator.privatePackage, [], impl)
  const setup = await createCommit({ state, cipherSuite: impl }, { extraProposals: others.map(addProposal) })
  const last = others[n - 2]
  const lastState = await joinGroup(setup.welcome, last.publicPackage, last.privatePackage, emptyPskIndex, impl, setup.newState.ratchetTree)
  return [setup.newState, lastState]
}

// fullGroup returns the last member and member 0 of an n-member group
// whose parents are all set.
async function fullGroup(n) {
  const creator = await keyPackage("member 0")
  let first = await createGroup(enc.encode("bench group"), creator.publicPackage, creator.privatePackage, [], impl)
  let holder = first
  const process = async (c) => (await processMessage(c.commit, first, emptyPskIndex, acceptAll, impl)).newState
  for (let k = 1; k < n; k++) {
    const kp = await keyPackage(`member ${k}`)
    const add = await createCommit({ state: holder, cipherSuite: impl }, { extraProposals: [addProposal(kp)] })
    if (k > 1) first = await process(add)
    else first = add.newState
    holder = await joinGroup(add.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl, add.newState.ratchetTree)
    const update = await createCommit({ state: holder, cipherSuite: impl })
    holder = update.newState
    first = await process(update)
  }
  // Check the shape: every parent with members on both sides set (one
  // with an empty side is on no filtered direct path, RFC 9420 section
  // 4.1.2, and its resolution is its other side's anyway), none with
  // unmerged leaves.
  const bothSides = (i) => {
    let k = 0
    while ((i >> k) & 1) k++
    return ((i >> (k + 1)) << k) + (1 << (k - 1)) < n
  }
  const tree = holder.ratchetTree
  const blank = tree.filter((node, i) => i % 2 === 1 && bothSides(i) && node == null).length
  const unmerged = tree.filter((node) => node?.nodeType === "parent" && node.parent.unmergedLeaves.length > 0).length
  if (blank > 0 || unmerged > 0) throw new Error(`full shape: ${blank} blank parents, ${unmerged} with unmerged leaves`)
  return [holder, first]
}

async function bench(n, shape) {
  let [committer, processor] = await (shape === "full" ? fullGroup(n) : sparseGroup(n))
  if (processor.groupContext.epoch !== committer.groupContext.epoch) throw new Error("setup: committer and processor in different epochs")

  const commitOp = async (makeOptions) => {
    const ds = []
    let bytes = 0
    for (let i = 0; i < opts.runs; i++) {
      const options = await makeOptions()
      const start = process.hrtime.bigint()
      const c = await createCommit({ state: committer, cipherSuite: impl }, options)
      ds.push(elapsed(start))
      bytes = size(c.commit, welcomeMessage(c.welcome))
    }
    return timings(ds, bytes)
  }
  const ops = {
    async join() {
      const ds = []
      let bytes = 0
      for (let i = 0; i < opts.runs; i++) {
        const kp = await keyPackage("joiner")
        const c = await createCommit({ state: committer, cipherSuite: impl }, { extraProposals: [addProposal(kp)] })
        bytes = size(welcomeMessage(c.welcome))
        const start = process.hrtime.bigint()
        const g = await joinGroup(c.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl, c.newState.ratchetTree)
        ds.push(elapsed(start))
        if (g.groupContext.epoch !== committer.groupContext.epoch + 1n) throw new Error(`joined epoch ${g.groupContext.epoch}`)
      }
      return timings(ds, bytes)
    },
    commit: () => commitOp(async () => ({})),
    async process() {
      const ds = []
      let bytes = 0
      for (let i = 0; i < opts.runs; i++) {
        const c = await createCommit({ state: committer, cipherSuite: impl })
        bytes = size(c.commit)
        const start = process.hrtime.bigint()
        const r = await processMessage(c.commit, processor, emptyPskIndex, acceptAll, impl)
        ds.push(elapsed(start))
        if (r.newState.groupContext.epoch !== c.newState.groupContext.epoch) throw new Error("process: epochs differ")
      }
      return timings(ds, bytes)
    },
    add: () => commitOp(async () => ({ extraProposals: (await keyPackages(1, "joiner")).map(addProposal) })),
    add1000: () => commitOp(async () => ({ extraProposals: (await keyPackages(1000, "joiner")).map(addProposal) })),
    remove: () => commitOp(async () => ({ extraProposals: [{ proposalType: "remove", remove: { removed: Math.floor(n / 2) } }] })),
    async protect() { return protect(false) },
    async unprotect() { return protect(true) },
    async state() { return { runs: 0, median_ns: 0, min_ns: 0, max_ns: 0, bytes: encodeGroupState(committer).length } },
  }
  // Sending advances the sender's ratchet, receiving the receiver's: both
  // states move on, as they would in use.
  async function protect(unprotect) {
    const ds = []
    let bytes = 0
    const data = new Uint8Array(1024)
    for (let i = 0; i < opts.runs; i++) {
      let start = process.hrtime.bigint()
      const sent = await createApplicationMessage(committer, data, impl)
      let d = elapsed(start)
      committer = sent.newState
      const msg = { version: "mls10", wireformat: "mls_private_message", privateMessage: sent.privateMessage }
      bytes = size(msg)
      start = process.hrtime.bigint()
      const r = await processMessage(msg, processor, emptyPskIndex, acceptAll, impl)
      if (unprotect) [d, bytes] = [elapsed(start), 0]
      if (r.kind !== "applicationMessage" || r.message.length !== data.length) throw new Error("application data changed")
      processor = r.newState
      ds.push(d)
    }
    return timings(ds, bytes)
  }
  for (const op of allOps) {
    if (!opts.ops.includes(op)) continue
    let r
    try {
      r = await ops[op]()
    } catch (e) {
      throw new Error(`${n} members, ${shape}: ${op}: ${e.message || e}`)
    }
    console.log(JSON.stringify({ op, suite, members: n, shape, ...r }))
  }
}

for (const n of opts.members) for (const shape of opts.shapes) await bench(n, shape)
