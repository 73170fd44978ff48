#!/usr/bin/env node
// Loro and diamond-types on the editing traces, measured as ../shared/peerbench
// measures Yjs and Automerge (seq.mjs, concurrent.mjs): the same quantities, the
// same field names, one JSON line per run. tracecompare.mjs runs it beside mycel.
//
//   node --expose-gc traces.mjs TRACE.json[.gz] --lib loro|diamond-types [--reps R]
//        [--agent-order asc|desc]
//
// A trace with txns[].parents is concurrent (mode "concurrent"), else sequential
// (mode "seq").
//
// Sequential (as seq.mjs): ms_apply replays every txn as one local transaction
// (Loro: the txn's patches, then commit(); diamond-types: a Doc, which keeps its
// text checked out as it goes, one ins/del per patch: it has no transactions);
// ms_encode/bytes_encoded the whole document (Loro: export snapshot;
// diamond-types: toBytes); ms_load a fresh document decoding it and reading the
// text (median of --reps, ms_load_first the first). Also bytes_encoded_gzip (the
// encoding gzipped, level 6, as mycel's state_gzip_bytes), bytes_encoded_update
// (Loro: the oplog alone, export mode update) and mem_doc_mb (see below).
//
// Concurrent (as concurrent.mjs): Loro replays the trace with one replica per
// live branch, exactly as concurrent.mjs does for Yjs and Automerge (fork a
// replica when a txn has more children to come, merge the other parents in,
// make the txn's edits as one commit under the agent's peer id).
// diamond-types needs no replicas: one OpLog holds the causal graph, and each
// txn's ops are added with the version of its parents (positions in the trace
// are relative to that version, as diamond-types itself exported them).
// ms_merge: a fresh peer loads the final encoding and reads the text.
// ms_merge_changes: a fresh peer receives every txn's own change (Loro: the
// update exported after the txn's commit; diamond-types: getPatchSince the
// oplog's version before the txn) and imports the set as one batch.
//
// Memory: rss_mb / maxrss_mb as lib.mjs (the whole node process: runtime, the
// decoded trace, everything). mem_doc_mb (sequential only) is heapUsed +
// external after a GC, once the edits are applied, minus the same before: for
// these wasm libraries that is the growth of the wasm linear memory, an
// allocator high-water mark (wasm memory never shrinks), so an upper bound on
// the document's size. Not measured on the concurrent trace (the replay's
// replicas have grown the wasm memory before the fresh peer loads).
//
// Libraries load from $PEERBENCH_HOME/node_modules (default /tmp/peerbench):
//   cp internal/bench/peers/package*.json $PEERBENCH_HOME/ && npm ci --prefix $PEERBENCH_HOME
// The helpers are ../shared/peerbench/lib.mjs, found beside the repository (or
// $PEERBENCH_DIR).

import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { fileURLToPath, pathToFileURL } from 'node:url'

// peerbenchDir finds shared/peerbench beside the repository, walking up from
// this script (the repository can be a worktree anywhere under the parent).
function peerbenchDir() {
  if (process.env.PEERBENCH_DIR) return process.env.PEERBENCH_DIR
  for (let d = path.dirname(fileURLToPath(import.meta.url)); d !== path.dirname(d); d = path.dirname(d)) {
    const p = path.join(path.dirname(d), 'shared', 'peerbench')
    if (fs.existsSync(path.join(p, 'lib.mjs'))) return p
  }
  console.error('shared/peerbench not found beside the repository; set PEERBENCH_DIR')
  process.exit(2)
}

const {
  loadLib, libVersion, loadTrace, traceName, parseArgs, now, round, maybeGC,
  median, memStats, hasAstral, AstralIndex, emit, firstDiff, mb,
} = await import(pathToFileURL(path.join(peerbenchDir(), 'lib.mjs')).href)

const args = parseArgs(process.argv.slice(2))
const file = args._[0]
if (!file) {
  console.error('usage: node --expose-gc traces.mjs TRACE.json[.gz] --lib loro|diamond-types [--reps R] [--agent-order asc|desc]')
  process.exit(2)
}
const lib = args.lib || 'loro'
if (lib !== 'loro' && lib !== 'diamond-types') { console.error(`unknown --lib ${lib}`); process.exit(2) }
const reps = Math.max(1, parseInt(args.reps || '5', 10))
const agentOrder = args['agent-order'] || 'asc'

const trace = loadTrace(file)
if (!Array.isArray(trace.txns) || trace.txns.length === 0) {
  console.error(`${file}: no txns`)
  process.exit(2)
}
const concurrent = trace.txns.some(t => Array.isArray(t.parents))
const pkg = lib === 'loro' ? 'loro-crdt' : 'diamond-types-node'
const L = loadLib(pkg)

function timedReps(fn) {
  const times = []
  let out
  for (let r = 0; r < reps; r++) {
    maybeGC()
    const t = now()
    out = fn()
    times.push(now() - t)
  }
  return { first: times[0], med: median(times), out }
}

// A fresh document of the library loading an encoding and reading its
// text: what ms_load and ms_merge time.
const loroFrom = (fill) => () => {
  const d = new L.LoroDoc()
  fill(d)
  const s = d.getText('text').toString()
  d.free()
  return s
}
const dtFrom = (bytes) => () => {
  const d = L.Doc.fromBytes(bytes)
  const s = d.get()
  d.free()
  return s
}
const gzipLen = (b) => zlib.gzipSync(b).byteLength // level 6, as mycel's state_gzip_bytes

const memNow = () => { maybeGC(); const m = process.memoryUsage(); return m.heapUsed + m.external }

// ================================================================ sequential

function runSeq() {
  let txns = trace.txns
  const expected = trace.endContent
  const result = {
    mode: 'seq', lib, lib_version: libVersion(pkg), trace: traceName(file), txns: txns.length,
    patches: txns.reduce((n, t) => n + t.patches.length, 0), limit: null,
    ms_apply: null, ms_encode: null, bytes_encoded: null, bytes_encoded_gzip: null, ms_load: null, ms_load_first: null,
    mem_doc_mb: null, rss_mb: null, maxrss_mb: null, ok: false,
  }
  // Trace positions are code points. diamond-types indexes in code points too;
  // Loro's insert/delete take UTF-16 units: convert (untimed) if an astral
  // character occurs, as seq.mjs does.
  if (lib === 'loro' && (hasAstral(txns) || /[\uD800-\uDFFF]/.test(trace.startContent))) {
    const idx = new AstralIndex(trace.startContent)
    txns = txns.map(t => ({ patches: t.patches.map(p => idx.convert(p)) }))
    result.utf16_converted = true
  }

  let out
  if (lib === 'loro') {
    result.encoding = 'loro-snapshot'
    const { LoroDoc } = L
    const before = memNow()
    const doc = new LoroDoc()
    doc.setPeerId(1) // deterministic
    const text = doc.getText('text')
    if (trace.startContent) { text.insert(0, trace.startContent); doc.commit() }
    maybeGC()
    const t0 = now()
    for (let i = 0; i < txns.length; i++) {
      const patches = txns[i].patches
      for (let j = 0; j < patches.length; j++) {
        const [pos, del, ins] = patches[j]
        if (del > 0) text.delete(pos, del)
        if (ins !== '') text.insert(pos, ins)
      }
      doc.commit()
    }
    result.ms_apply = now() - t0
    result.mem_doc_mb = mb(memNow() - before)
    const content = text.toString()
    const enc = timedReps(() => doc.export({ mode: 'snapshot' }))
    const bytes = enc.out
    result.ms_encode = enc.med
    result.bytes_encoded = bytes.byteLength
    result.bytes_encoded_gzip = gzipLen(bytes)
    // informational: the oplog alone (what a peer lacking everything receives)
    result.bytes_encoded_update = doc.export({ mode: 'update' }).byteLength
    const load = timedReps(loroFrom((d) => d.import(bytes)))
    result.ms_load = load.med
    result.ms_load_first = load.first
    out = { content, loaded: load.out }
    doc.free()
  } else {
    result.encoding = 'dt-toBytes'
    const { Doc } = L
    const before = memNow()
    const doc = new Doc('seph') // deterministic agent
    if (trace.startContent) doc.ins(0, trace.startContent)
    maybeGC()
    const t0 = now()
    for (let i = 0; i < txns.length; i++) {
      const patches = txns[i].patches
      for (let j = 0; j < patches.length; j++) {
        const [pos, del, ins] = patches[j]
        if (del > 0) doc.del(pos, del)
        if (ins !== '') doc.ins(pos, ins)
      }
    }
    result.ms_apply = now() - t0
    result.mem_doc_mb = mb(memNow() - before)
    const content = doc.get()
    const enc = timedReps(() => doc.toBytes())
    const bytes = enc.out
    result.ms_encode = enc.med
    result.bytes_encoded = bytes.byteLength
    result.bytes_encoded_gzip = gzipLen(bytes)
    const load = timedReps(dtFrom(bytes))
    result.ms_load = load.med
    result.ms_load_first = load.first
    out = { content, loaded: load.out }
    doc.free()
  }

  Object.assign(result, memStats())
  const okApply = out.content === expected
  const okLoad = out.loaded === expected
  result.ok = okApply && okLoad
  for (const k of ['ms_apply', 'ms_encode', 'ms_load', 'ms_load_first']) result[k] = round(result[k], 1)
  if (!result.ok) {
    result.error = !okApply ? { stage: 'apply', ...firstDiff(out.content, expected) }
      : { stage: 'load', ...firstDiff(out.loaded, expected) }
    for (const k of ['ms_apply', 'ms_encode', 'ms_load', 'ms_load_first', 'bytes_encoded', 'bytes_encoded_gzip', 'bytes_encoded_update']) result[k] = null
  }
  return result
}

// ================================================================ concurrent

// validate is concurrent.mjs's: parents point back, agents' txns are totally
// ordered (so an agent identity never forks).
function validate(txns, numAgents) {
  const n = txns.length
  const children = new Int32Array(n)
  let roots = 0
  for (let i = 0; i < n; i++) {
    const ps = txns[i].parents
    if (ps.length === 0) roots++
    const seen = new Set()
    for (const p of ps) {
      if (!Number.isInteger(p) || p < 0 || p >= i) throw new Error(`txn ${i}: parent ${p} does not point to an earlier txn`)
      if (seen.has(p)) throw new Error(`txn ${i}: duplicate parent ${p}`)
      seen.add(p)
      children[p]++
    }
    const a = txns[i].agent
    if (!Number.isInteger(a) || a < 0 || a >= numAgents) throw new Error(`txn ${i}: bad agent ${a}`)
  }
  const heads = []
  for (let i = 0; i < n; i++) if (children[i] === 0) heads.push(i)
  const lastOf = new Map()
  const mark = new Int32Array(n).fill(-1)
  for (let i = 0; i < n; i++) {
    const a = txns[i].agent
    const prev = lastOf.get(a)
    if (prev !== undefined) {
      let found = false
      const stack = [...txns[i].parents]
      while (stack.length && !found) {
        const p = stack.pop()
        if (p < prev || mark[p] === i) continue
        mark[p] = i
        if (p === prev) { found = true; break }
        for (const q of txns[p].parents) stack.push(q)
      }
      if (!found) throw new Error(`agent ${a}: txn ${i} is concurrent with its earlier txn ${prev}`)
    }
    lastOf.set(a, i)
  }
  return { children, roots, heads }
}

function runConcurrent() {
  const txns = trace.txns
  const n = txns.length
  const numAgents = trace.numAgents ?? (Math.max(...txns.map(t => t.agent)) + 1)
  const agentKey = (a) => agentOrder === 'desc' ? (numAgents - 1 - a) : a
  const { children, roots, heads } = validate(txns, numAgents)
  const astral = hasAstral(txns)
  const result = {
    mode: 'concurrent', lib, lib_version: libVersion(pkg), trace: traceName(file), txns: n,
    patches: txns.reduce((k, t) => k + t.patches.length, 0),
    agents: numAgents, roots, heads: heads.length,
    ms_replay: null, forks: null, merges: null, max_live_replicas: null,
    ms_encode: null, bytes_encoded: null, bytes_encoded_gzip: null,
    ms_merge: null, ms_merge_first: null, ms_merge_changes: null, num_changes: null,
    mem_doc_mb: null, rss_mb: null, maxrss_mb: null, ok: false,
  }
  if (agentOrder !== 'asc') result.agent_order = agentOrder
  if (astral) result.utf16_converted = lib === 'loro'
  const out = lib === 'loro' ? concurrentLoro(result, txns, children, roots, agentKey, astral)
    : concurrentDT(result, txns, agentKey)
  return [result, out]
}

// The generic replay of concurrent.mjs (= crdt-converter's process()).
function replay(txns, children, roots, ops) {
  const n = txns.length
  let rootDoc = ops.root()
  let rootRc = roots
  const live = new Map()
  const stats = { forks: 0, merges: 0, max_live_replicas: 0 }
  const take = (p) => {
    if (p === -1) {
      if (rootRc === 1) { rootRc = 0; const d = rootDoc; rootDoc = null; return d }
      rootRc--; stats.forks++
      return ops.fork(rootDoc)
    }
    const e = live.get(p)
    if (e.rc === 1) { live.delete(p); return e.doc }
    e.rc--; stats.forks++
    return ops.fork(e.doc)
  }
  const release = (p) => {
    const e = live.get(p)
    if (--e.rc === 0) { live.delete(p); ops.release(e.doc) }
  }
  const finals = []
  for (let i = 0; i < n; i++) {
    const t = txns[i]
    let doc = take(t.parents.length ? t.parents[0] : -1)
    for (let k = 1; k < t.parents.length; k++) {
      const p = t.parents[k]
      doc = ops.merge(doc, live.get(p).doc)
      stats.merges++
      release(p)
    }
    if (t.patches.length > 0) doc = ops.applyTxn(doc, t, i)
    if (children[i] > 0) live.set(i, { doc, rc: children[i] })
    else finals.push(doc)
    if (live.size > stats.max_live_replicas) stats.max_live_replicas = live.size
  }
  if (rootDoc) ops.release(rootDoc)
  let final = finals[0]
  for (let k = 1; k < finals.length; k++) {
    final = ops.merge(final, finals[k]); stats.merges++
    ops.release(finals[k])
  }
  return { final, stats }
}

function concurrentLoro(result, txns, children, roots, agentKey, astral) {
  const { LoroDoc } = L
  result.encoding = 'loro-snapshot'
  const peerFor = (a) => agentKey(a) + 1 // small non-zero ints, in agent order
  const changes = []
  const ops = {
    root() { const d = new LoroDoc(); d.getText('text'); return d },
    fork(doc) { return doc.fork() },
    merge(dst, src) {
      dst.import(src.export({ mode: 'update', from: dst.oplogVersion() }))
      return dst
    },
    applyTxn(doc, t) {
      // The replica holds every earlier txn of this agent (validated), so the
      // peer's counter continues without gaps.
      doc.setPeerId(peerFor(t.agent))
      const text = doc.getText('text')
      let patches = t.patches
      if (astral) { const idx = new AstralIndex(text.toString()); patches = patches.map(p => idx.convert(p)) }
      const vv = doc.oplogVersion()
      for (const [pos, del, ins] of patches) {
        if (del > 0) text.delete(pos, del)
        if (ins !== '') text.insert(pos, ins)
      }
      doc.commit()
      changes.push(doc.export({ mode: 'update', from: vv }))
      return doc
    },
    release(doc) { doc.free() },
  }
  maybeGC()
  const t0 = now()
  const { final, stats } = replay(txns, children, roots, ops)
  result.ms_replay = now() - t0
  Object.assign(result, stats)
  const content = final.getText('text').toString()
  if (content !== trace.endContent) return { content }

  const enc = timedReps(() => final.export({ mode: 'snapshot' }))
  const bytes = enc.out
  result.ms_encode = enc.med
  result.bytes_encoded = bytes.byteLength
  result.bytes_encoded_gzip = gzipLen(bytes)
  result.bytes_encoded_update = final.export({ mode: 'update' }).byteLength
  final.free()

  const m = timedReps(loroFrom((d) => d.import(bytes)))
  result.ms_merge = m.med
  result.ms_merge_first = m.first

  result.num_changes = changes.length
  const mc = timedReps(loroFrom((d) => d.importBatch(changes)))
  result.ms_merge_changes = mc.med
  return { content, merged: m.out, mergedChanges: mc.out }
}

function concurrentDT(result, txns, agentKey) {
  const { OpLog, Doc } = L
  result.encoding = 'dt-toBytes'
  // diamond-types orders concurrent inserts at one position by agent name;
  // the exporter numbered agents in the order of their names.
  const nameFor = (a) => 'a' + String(agentKey(a)).padStart(6, '0')
  const n = txns.length
  const version = new Array(n) // the oplog version just after txn i
  const changes = []
  const ROOT = new Uint32Array(0)
  maybeGC()
  const t0 = now()
  const oplog = new OpLog()
  for (let i = 0; i < n; i++) {
    const t = txns[i]
    let v = ROOT
    for (const p of t.parents) v = v === ROOT ? version[p] : oplog.mergeVersions(v, version[p])
    if (t.patches.length > 0) {
      oplog.setAgent(nameFor(t.agent))
      const before = oplog.getLocalVersion()
      // Each patch applies to the document the txn's previous patch made.
      for (const [pos, del, ins] of t.patches) {
        if (del > 0) v = Uint32Array.of(oplog.del(pos, del, v))
        if (ins !== '') v = Uint32Array.of(oplog.ins(pos, ins, v))
      }
      changes.push(oplog.getPatchSince(before))
    }
    version[i] = v
  }
  const branch = oplog.checkout()
  const content = branch.get()
  branch.free()
  result.ms_replay = now() - t0
  result.forks = 0
  result.merges = 0
  result.max_live_replicas = 1
  if (content !== trace.endContent) { oplog.free(); return { content } }

  const enc = timedReps(() => oplog.toBytes())
  const bytes = enc.out
  result.ms_encode = enc.med
  result.bytes_encoded = bytes.byteLength
  result.bytes_encoded_gzip = gzipLen(bytes)
  oplog.free()

  const m = timedReps(dtFrom(bytes))
  result.ms_merge = m.med
  result.ms_merge_first = m.first

  result.num_changes = changes.length
  const mc = timedReps(() => {
    const o = new OpLog()
    for (const c of changes) o.addFromBytes(c)
    const b = o.checkout()
    const s = b.get()
    b.free(); o.free()
    return s
  })
  result.ms_merge_changes = mc.med
  return { content, merged: m.out, mergedChanges: mc.out }
}

// ====================================================================== main

let result
if (!concurrent) {
  try { result = runSeq() } catch (e) {
    result = { mode: 'seq', lib, lib_version: libVersion(pkg), trace: traceName(file), ok: false, error: { stage: 'apply', message: String(e && e.message || e) } }
  }
} else {
  let out
  try {
    [result, out] = runConcurrent()
  } catch (e) {
    result = { mode: 'concurrent', lib, lib_version: libVersion(pkg), trace: traceName(file), ok: false, error: { stage: 'replay', message: String(e && e.message || e) } }
  }
  if (out) {
    Object.assign(result, memStats())
    const timeKeys = ['ms_replay', 'ms_encode', 'ms_merge', 'ms_merge_first', 'ms_merge_changes']
    for (const k of timeKeys) result[k] = round(result[k], 1)
    if (out.content !== trace.endContent) result.error = { stage: 'replay', ...firstDiff(out.content, trace.endContent) }
    else if (out.merged !== trace.endContent) result.error = { stage: 'merge', ...firstDiff(out.merged, trace.endContent) }
    else if (out.mergedChanges !== trace.endContent) result.error = { stage: 'merge_changes', ...firstDiff(out.mergedChanges, trace.endContent) }
    else result.ok = true
    if (!result.ok) for (const k of [...timeKeys, 'bytes_encoded', 'bytes_encoded_gzip', 'bytes_encoded_update']) if (k in result) result[k] = null
  }
}
emit(result)
process.exit(result.ok ? 0 : 1)
