#!/usr/bin/env node
// The crdt-benchmarks scenarios B1.1–B3.5 (dmonad/crdt-benchmarks, js-lib/b1.js,
// b2.js, b3.js) on one JavaScript CRDT, exactly as internal/bench/crdtbench.go
// runs them on mycel's merge engine: the same inputs (lib0's generator, seeded 42
// at the start of each scenario), the same checks, the same quantities. Prints one
// JSON line per scenario, as `mycel bench crdt --json` gives one row.
//
//   node --expose-gc crdt.mjs --lib yjs|automerge|loro|diamond-types [--reps R] [--n N] [--only B1.1,B2.4] [--warmup W]
//
// Libraries load from $PEERBENCH_HOME/node_modules (default /tmp/peerbench), never
// from the repo: cp package.json package-lock.json $PEERBENCH_HOME/ && npm ci --prefix $PEERBENCH_HOME
//
// Each library is driven as the suite's factories drive it (benchmarks/<lib>/factory.js):
// Yjs with V2 updates and encodeStateAsUpdateV2; Automerge with one change and
// saveIncremental per call, strings in maps as ImmutableString, save(); Loro with
// an update exported after each transaction, updates received in a transaction
// imported as a batch, a snapshot as the encoding; diamond-types with an OpLog,
// getPatchSince per transaction, toBytes() (it has no array or map: those
// scenarios are skipped, as in the suite).

import path from 'node:path'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'

const HOME = process.env.PEERBENCH_HOME || '/tmp/peerbench'
const requireFromHome = createRequire(path.join(HOME, 'package.json'))
function load(name) {
  try {
    return requireFromHome(name)
  } catch (e) {
    console.error(`cannot load ${name} from ${HOME}/node_modules: ${e.message}\n` +
      `install with: cp internal/bench/peers/package*.json ${HOME}/ && npm ci --prefix ${HOME}`)
    process.exit(2)
  }
}
function version(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(HOME, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch { return null }
}

const args = { lib: 'yjs', reps: '1', n: '6000', only: '', warmup: '0' }
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (!a.startsWith('--') || i + 1 >= process.argv.length) {
    console.error('usage: node --expose-gc crdt.mjs --lib yjs|automerge|loro|diamond-types [--reps R] [--n N] [--only B1.1,…]')
    process.exit(2)
  }
  args[a.slice(2)] = process.argv[++i]
}
const N = parseInt(args.n, 10)
const REPS = Math.max(1, parseInt(args.reps, 10))
const WARMUP = Math.max(0, parseInt(args.warmup, 10)) // unmeasured runs first (the suite: none, a cold JIT)
const ONLY = args.only ? args.only.split(',') : null

const prng = await import(path.join(HOME, 'node_modules/lib0/prng.js'))
const now = () => performance.now()
const gc = () => { if (typeof globalThis.gc === 'function') globalThis.gc() }

// mutex is lib0's createMutex: f runs unless another f is running.
function mutex() {
  let busy = false
  return f => {
    if (busy) return
    busy = true
    try { f() } finally { busy = false }
  }
}

// ---- the libraries, each behind the suite's interface ----

function yjs() {
  const Y = load('yjs')
  class Doc {
    constructor(onUpdate) {
      this.doc = new Y.Doc()
      this.doc.on('updateV2', u => onUpdate(u))
      this.text = this.doc.getText('text')
      this.array = this.doc.getArray('array')
      this.map = this.doc.getMap('map')
    }
    encode() { return Y.encodeStateAsUpdateV2(this.doc) }
    apply(u) { Y.applyUpdateV2(this.doc, u) }
    insertText(i, s) { this.text.insert(i, s) }
    deleteText(i, n) { this.text.delete(i, n) }
    insertArray(i, xs) { this.array.insert(i, xs) }
    setMap(k, v) { this.map.set(k, v) }
    getText() { return this.text.toString() }
    getArray() { return this.array.toArray() }
    getMap() { return this.map.toJSON() }
    transact(f) { this.doc.transact(() => f()) }
  }
  return { name: 'yjs', version: version('yjs'), create: u => new Doc(u), load: b => { const d = new Doc(() => {}); d.apply(b); return d } }
}

function automerge() {
  const A = load('@automerge/automerge')
  const initial = A.save(A.from({ array: [], map: {}, text: '' }))
  class Doc {
    constructor(onUpdate, bin = initial) {
      this.onUpdate = onUpdate
      this.doc = A.load(bin)
      this.tx = null
    }
    encode() { return A.save(this.doc) }
    apply(u) { this.doc = A.loadIncremental(this.doc, u) }
    insertText(i, s) { this.transact(d => A.splice(d, ['text'], i, 0, s)) }
    deleteText(i, n) { this.transact(d => A.splice(d, ['text'], i, n, '')) }
    insertArray(i, xs) { this.transact(d => d.array.splice(i, 0, ...xs)) }
    setMap(k, v) {
      // As the suite: a string in a map is an ImmutableString (RawString
      // there), not a text CRDT of its own.
      this.transact(d => { d.map[k] = typeof v === 'string' ? new A.ImmutableString(v) : v })
    }
    getText() { return this.doc.text.toString() }
    getArray() { return this.doc.array }
    getMap() {
      const out = {}
      for (const [k, v] of Object.entries(this.doc.map)) out[k] = v instanceof A.ImmutableString ? v.toString() : v
      return out
    }
    transact(f, isUpdate = false) {
      if (isUpdate) return f(this.doc)
      if (this.tx) return f(this.tx)
      this.doc = A.change(this.doc, d => { this.tx = d; f(d); this.tx = null })
      this.onUpdate(A.saveIncremental(this.doc))
    }
  }
  return { name: 'automerge', version: version('@automerge/automerge'), create: u => new Doc(u), load: b => new Doc(() => {}, b) }
}

function loro() {
  const { LoroDoc } = load('loro-crdt')
  class Doc {
    constructor(onUpdate) {
      this.doc = new LoroDoc()
      this.onUpdate = onUpdate
      this.version = this.doc.oplogVersion()
      this.text = this.doc.getText('text')
      this.list = this.doc.getList('list')
      this.map = this.doc.getMap('map')
      this.cached = []
      this.inTx = false
    }
    encode() { return this.doc.export({ mode: 'snapshot' }) }
    apply(u) { if (this.inTx) this.cached.push(u); else this.doc.import(u) }
    insertText(i, s) { this.transact(() => this.text.insert(i, s)) }
    deleteText(i, n) { this.transact(() => this.text.delete(i, n)) }
    insertArray(i, xs) { this.transact(() => xs.forEach((x, k) => this.list.insert(i + k, x))) }
    setMap(k, v) { this.transact(() => this.map.set(k, v)) }
    getText() { return this.text.toString() }
    getArray() { return this.list.toArray() }
    getMap() { return this.map.toJSON() }
    transact(f) {
      if (this.inTx) return f()
      this.inTx = true
      f()
      if (this.cached.length > 0) { this.doc.importBatch(this.cached); this.cached = [] }
      this.doc.commit()
      this.onUpdate(this.doc.export({ mode: 'update', from: this.version }))
      this.version = this.doc.oplogVersion()
      this.inTx = false
    }
  }
  return { name: 'loro', version: version('loro-crdt'), create: u => new Doc(u), load: b => { const d = new Doc(() => {}); d.doc.import(b); return d } }
}

function diamondTypes() {
  const { OpLog } = load('diamond-types-node')
  let agents = 0
  class Doc {
    constructor(onUpdate) {
      this.oplog = new OpLog('user' + (++agents) + '-' + process.pid)
      this.version = this.oplog.getLocalVersion()
      this.onUpdate = onUpdate
      this.inTx = false
    }
    encode() { return this.oplog.toBytes() }
    apply(u) { this.transact(() => this.oplog.addFromBytes(u)) }
    insertText(i, s) { this.transact(() => this.oplog.ins(i, s)) }
    deleteText(i, n) { this.transact(() => this.oplog.del(i, n)) }
    getText() { return this.oplog.checkout().get() }
    transact(f) {
      if (this.inTx) return f()
      this.inTx = true
      f()
      this.onUpdate(this.oplog.getPatchSince(this.version))
      this.oplog.getOpsSince(this.version) // as the suite: what an editor would read
      this.version = this.oplog.getLocalVersion()
      this.inTx = false
    }
  }
  return { name: 'diamond-types', version: version('diamond-types-node'), noArrayOrMap: true, create: u => new Doc(u), load: b => { const d = new Doc(() => {}); d.apply(b); return d } }
}

const libs = { yjs, automerge, loro, 'diamond-types': diamondTypes }
if (!libs[args.lib]) { console.error(`unknown --lib ${args.lib}`); process.exit(2) }
const lib = libs[args.lib]()

// ---- the scenarios (see crdtbench.go for the mapping onto mycel) ----

// An edit is one of the suite's calls: {kind: 'ins'|'del'|'arr'|'map', pos, s, n, elems}.
function doEdit(doc, e) {
  switch (e.kind) {
    case 'ins': return doc.insertText(e.pos, e.s)
    case 'del': return doc.deleteText(e.pos, e.n)
    case 'arr': return doc.insertArray(e.pos, e.elems)
    case 'map': return doc.setMap('v', e.v)
  }
}
const read = { text: d => d.getText(), array: d => JSON.stringify(d.getArray()), map: d => JSON.stringify(d.getMap(), Object.keys(d.getMap()).sort()) }

function encodeAndParse(res, doc, view, want) {
  gc()
  let t = now()
  const bin = doc.encode()
  res.ms_encode = now() - t
  res.bytes_doc = bin.length
  gc()
  t = now()
  const got = read[view](lib.load(bin))
  res.ms_parse = now() - t
  if (got !== want) throw new Error('the loaded state differs from the replica encoded')
  return res
}

// B1: doc1 makes each call of input on its own; doc2 receives the updates.
function b1(input, view, want) {
  const updates = []
  const d1 = lib.create(u => updates.push(u))
  const d2 = lib.create(() => {})
  const res = {}
  gc()
  const t = now()
  for (const e of input) doEdit(d1, e)
  for (const u of updates) d2.apply(u)
  const g1 = read[view](d1)
  const g2 = read[view](d2)
  res.ms_time = now() - t
  if (g1 !== g2 || g1 !== want) throw new Error(`replicas show ${g1.length} and ${g2.length} chars, want ${want.length}, equal`)
  return encodeAndParse(res, d2, view, want)
}

// B2: updates delivered as made (under a mutex); each doc's edits in one transaction.
function b2(init, e1, e2, wantLen) {
  const mux = mutex()
  let d1 = null
  let d2 = null
  d1 = lib.create(u => mux(() => d2.apply(u)))
  d2 = lib.create(u => mux(() => d1.apply(u)))
  d1.insertText(0, init)
  const res = {}
  gc()
  const t = now()
  d1.transact(() => e1.forEach(e => doEdit(d1, e)))
  d2.transact(() => e2.forEach(e => doEdit(d2, e)))
  const g1 = d1.getText()
  const g2 = d2.getText()
  res.ms_time = now() - t
  if (g1 !== g2) throw new Error('the two replicas differ')
  if (wantLen >= 0 && [...g1].length !== wantLen) throw new Error(`text of ${[...g1].length} characters, want ${wantLen}`)
  return encodeAndParse(res, d1, 'text', g2)
}

// B3: 20·⌊√N⌋ docs make one edit each; doc 0, then (timed) doc 1 receive all updates.
function b3(view, edit) {
  const m = Math.floor(Math.sqrt(N)) * 20
  const mux = mutex()
  const updates = []
  const docs = []
  for (let i = 0; i < m; i++) docs.push(lib.create(u => mux(() => updates.push(u))))
  docs.forEach((d, i) => doEdit(d, edit(i)))
  if (updates.length < m) throw new Error(`${updates.length} updates from ${m} clients`)
  const deliver = d => mux(() => d.transact(() => updates.forEach(u => d.apply(u)), true))
  deliver(docs[0])
  const res = {}
  gc()
  const t = now()
  deliver(docs[1])
  const g0 = read[view](docs[0])
  const g1 = read[view](docs[1])
  res.ms_time = now() - t
  if (g0 !== g1) throw new Error('docs 0 and 1 differ')
  return encodeAndParse(res, docs[0], view, g0)
}

function insertAt(s, at, w) { return s.slice(0, at) + w + s.slice(at) }

function b1Random(lo, hi) {
  const g = prng.create(42)
  let s = ''
  const input = []
  for (let i = 0; i < N; i++) {
    const at = prng.int32(g, 0, s.length)
    const w = prng.word(g, lo, hi)
    s = insertAt(s, at, w)
    input.push({ kind: 'ins', pos: at, s: w })
  }
  return b1(input, 'text', s)
}

function b1Numbers(whole, prepend) {
  const g = prng.create(42)
  const nums = Array.from({ length: N }, () => prng.uint32(g, 0, 0x7fffffff))
  if (whole) return b1([{ kind: 'arr', pos: 0, elems: nums }], 'array', JSON.stringify(nums))
  const input = nums.map((x, i) => ({ kind: 'arr', pos: prepend ? 0 : i, elems: [x] }))
  return b1(input, 'array', JSON.stringify(prepend ? nums.slice().reverse() : nums))
}

function b2Random(lo, hi, deletes, checkLen) {
  const g = prng.create(42)
  const init = prng.word(g, 100, 100)
  const gen = () => {
    let s = init
    const es = []
    for (let i = 0; i < N; i++) {
      const at = prng.uint32(g, 0, s.length)
      const w = prng.word(g, lo, hi)
      s = insertAt(s, at, w)
      es.push({ kind: 'ins', pos: at, s: w })
      if (!deletes) continue
      if (s.length === at || prng.bool(g)) {
        const w = prng.word(g, 2, 10)
        s = insertAt(s, at, w)
        es.push({ kind: 'ins', pos: at, s: w })
      } else {
        const del = prng.uint32(g, 1, Math.min(9, s.length - at))
        s = s.slice(0, at) + s.slice(at + del)
        es.push({ kind: 'del', pos: at, n: del })
      }
    }
    return es
  }
  const e1 = gen()
  const e2 = gen()
  return b2(init, e1, e2, checkLen ? 2 * N + 100 : -1)
}

const sqrtN = Math.floor(Math.sqrt(N)) * 20
const scenarios = [
  ['B1.1', 'Append N characters', 'text', () => {
    const s = prng.word(prng.create(42), N, N)
    return b1([...s].map((c, i) => ({ kind: 'ins', pos: i, s: c })), 'text', s)
  }],
  ['B1.2', 'Insert string of length N', 'text', () => {
    const s = prng.word(prng.create(42), N, N)
    return b1([{ kind: 'ins', pos: 0, s }], 'text', s)
  }],
  ['B1.3', 'Prepend N characters', 'text', () => {
    const s = prng.word(prng.create(42), N, N)
    return b1([...s].reverse().map(c => ({ kind: 'ins', pos: 0, s: c })), 'text', s)
  }],
  ['B1.4', 'Insert N characters at random positions', 'text', () => b1Random(1, 1)],
  ['B1.5', 'Insert N words at random positions', 'text', () => b1Random(2, 10)],
  ['B1.6', 'Insert string, then delete it', 'text', () => {
    const s = prng.word(prng.create(42), N, N)
    return b1([{ kind: 'ins', pos: 0, s }, { kind: 'del', pos: 0, n: s.length }], 'text', '')
  }],
  ['B1.7', 'Insert/Delete strings at random positions', 'text', () => {
    const g = prng.create(42)
    let s = ''
    const input = []
    for (let i = 0; i < N; i++) {
      const at = prng.uint32(g, 0, s.length)
      if (s.length === at || prng.bool(g)) {
        const w = prng.word(g, 2, 10)
        s = insertAt(s, at, w)
        input.push({ kind: 'ins', pos: at, s: w })
      } else {
        const del = prng.uint32(g, 1, Math.min(9, s.length - at))
        s = s.slice(0, at) + s.slice(at + del)
        input.push({ kind: 'del', pos: at, n: del })
      }
    }
    return b1(input, 'text', s)
  }],
  ['B1.8', 'Append N numbers', 'array', () => b1Numbers(false, false)],
  ['B1.9', 'Insert Array of N numbers', 'array', () => b1Numbers(true, false)],
  ['B1.10', 'Prepend N numbers', 'array', () => b1Numbers(false, true)],
  ['B1.11', 'Insert N numbers at random positions', 'array', () => {
    const g = prng.create(42)
    const nums = []
    const input = []
    for (let i = 0; i < N; i++) {
      const at = prng.uint32(g, 0, nums.length)
      const x = prng.uint32(g, 0, 0x7fffffff)
      nums.splice(at, 0, x)
      input.push({ kind: 'arr', pos: at, elems: [x] })
    }
    return b1(input, 'array', JSON.stringify(nums))
  }],
  ['B2.1', 'Concurrently insert string of length N at index 0', 'text', () => {
    const g = prng.create(42)
    const init = prng.word(g, 100, 100)
    const s1 = prng.word(g, N, N)
    const s2 = prng.word(g, N, N)
    return b2(init, [{ kind: 'ins', pos: 0, s: s1 }], [{ kind: 'ins', pos: 0, s: s2 }], 2 * N + 100)
  }],
  ['B2.2', 'Concurrently insert N characters at random positions', 'text', () => b2Random(1, 1, false, true)],
  ['B2.3', 'Concurrently insert N words at random positions', 'text', () => b2Random(3, 9, false, false)],
  ['B2.4', 'Concurrently insert & delete', 'text', () => b2Random(3, 9, true, false)],
  ['B3.1', '20√N clients concurrently set number in Map', 'map', () => b3('map', i => ({ kind: 'map', v: i }))],
  ['B3.2', '20√N clients concurrently set Object in Map', 'map', () => b3('map', i => ({ kind: 'map', v: { name: i.toString(), address: 'here' } }))],
  ['B3.3', '20√N clients concurrently set String in Map', 'map', () => b3('map', i => ({ kind: 'map', v: i.toString().repeat(sqrtN) }))],
  ['B3.4', '20√N clients concurrently insert text in Array', 'array', () => b3('array', i => ({ kind: 'arr', pos: 0, elems: [i.toString()] }))],
  ['B3.5', '20√N clients concurrently insert text', 'text', () => b3('text', i => ({ kind: 'ins', pos: 0, s: i.toString() }))],
]

const median = xs => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const round = x => Math.round(x * 1000) / 1000

for (const [id, title, type, run] of scenarios) {
  if (ONLY && !ONLY.includes(id)) continue
  const row = { lib: lib.name, lib_version: lib.version, scenario: id, title, n: N, reps: REPS }
  if (lib.noArrayOrMap && type !== 'text') {
    process.stdout.write(JSON.stringify({ ...row, ok: null, skipped: `${lib.name} has no ${type}` }) + '\n')
    continue
  }
  const rs = []
  try {
    for (let r = 0; r < WARMUP; r++) run()
    for (let r = 0; r < REPS; r++) rs.push(run())
  } catch (e) {
    process.stdout.write(JSON.stringify({ ...row, ok: false, error: String(e.message || e) }) + '\n')
    continue
  }
  process.stdout.write(JSON.stringify({
    ...row, ms_time: round(median(rs.map(r => r.ms_time))), ms_encode: round(median(rs.map(r => r.ms_encode))),
    bytes_doc: rs[rs.length - 1].bytes_doc, ms_parse: round(median(rs.map(r => r.ms_parse))), ok: true,
  }) + '\n')
}
