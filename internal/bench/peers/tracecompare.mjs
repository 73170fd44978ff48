#!/usr/bin/env node
// Runs the editing traces on mycel (`mycel bench trace FILE --json`) beside Yjs and
// Automerge (../shared/peerbench seq.mjs, concurrent.mjs) and Loro and
// diamond-types (traces.mjs), interleaved rep by rep (each run a fresh process,
// the order of the implementations rotated every rep), and prints one Markdown
// table of medians per trace. Every run's JSON line also goes to --out (written as
// the runs finish).
//
//   go build -o /tmp/mycel ./cmd/mycel
//   nice -n 10 node internal/bench/peers/tracecompare.mjs --mycel /tmp/mycel [--reps 3]
//        [--traces automerge-paper,seph-blog1,node_nodecc-concurrent]   (default: every *.json.gz in --traces-dir)
//        [--libs mycel,yjs,automerge,loro,diamond-types] [--skip LIB:TRACE,…] [--skip-slow]
//        [--inner-reps 5] [--traces-dir DIR] [--out rows.jsonl]
//
// --skip takes LIB:TRACE pairs, either side may be *; --skip-slow adds the runs that
// take tens of seconds each (see SLOW). --inner-reps is how often each process
// repeats the encode and load steps (their median is reported; mycel loads its
// state 5 times): the edits are applied once per process.

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

// shared/peerbench beside the repository (walking up: the repository may be a worktree).
function sharedDir() {
  if (process.env.PEERBENCH_DIR) return path.dirname(process.env.PEERBENCH_DIR)
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    const p = path.join(path.dirname(d), 'shared')
    if (fs.existsSync(path.join(p, 'peerbench', 'lib.mjs'))) return p
  }
  console.error('shared/peerbench not found beside the repository; set PEERBENCH_DIR')
  process.exit(2)
}
const shared = sharedDir()
const peerbench = process.env.PEERBENCH_DIR || path.join(shared, 'peerbench')
const { loadTrace, median } = await import(pathToFileURL(path.join(peerbench, 'lib.mjs')).href)

// Runs that take a minute or more each (seconds per run of one process, reps 1,
// 2-core AMD EPYC shared with another job, under nice: Automerge 87 s on
// automerge-paper and 78 s on node_nodecc-concurrent; Yjs 19 s on automerge-paper;
// for comparison Yjs 22 s and Loro 18 s on node_nodecc, everything else under 6 s).
// Automerge on seph-blog1 (half of automerge-paper's txns) was not timed.
const SLOW = ['automerge:*', 'yjs:automerge-paper']

const args = {
  mycel: 'mycel', reps: '3', traces: '', libs: 'mycel,yjs,automerge,loro,diamond-types', skip: '',
  'inner-reps': '5', 'traces-dir': path.join(shared, 'data', 'traces'), out: '',
}
const flags = new Set(['skip-slow'])
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  const k = a.slice(2)
  if (a.startsWith('--') && flags.has(k)) { args[k] = true; continue }
  if (!a.startsWith('--') || !(k in args) || i + 1 >= process.argv.length) {
    console.error('usage: node tracecompare.mjs --mycel PATH [--reps R] [--traces a,b] [--libs mycel,yjs,…] [--skip LIB:TRACE,…] [--skip-slow] [--inner-reps N] [--traces-dir DIR] [--out FILE]')
    process.exit(2)
  }
  args[k] = process.argv[++i]
}
const reps = Math.max(1, parseInt(args.reps, 10))
const innerReps = String(Math.max(1, parseInt(args['inner-reps'], 10)))
const impls = args.libs.split(',').filter(Boolean)
for (const l of impls) {
  if (!['mycel', 'yjs', 'automerge', 'loro', 'diamond-types'].includes(l)) { console.error(`unknown lib ${l}`); process.exit(2) }
}
const traceNames = args.traces ? args.traces.split(',').filter(Boolean)
  : fs.readdirSync(args['traces-dir']).filter(f => f.endsWith('.json.gz')).map(f => f.replace(/\.json\.gz$/, '')).sort()
const skips = [...args.skip.split(',').filter(Boolean), ...(args['skip-slow'] ? SLOW : [])].map(s => s.split(':'))
const skipped = (lib, tr) => skips.some(([l, t]) => (l === '*' || l === lib) && (t === '*' || t === tr))

const traces = traceNames.map(name => {
  const file = path.join(args['traces-dir'], name + '.json.gz')
  if (!fs.existsSync(file)) { console.error(`no trace ${file}`); process.exit(2) }
  const t = loadTrace(file)
  const concurrent = t.txns.some(x => Array.isArray(x.parents))
  return {
    name, file, concurrent, txns: t.txns.length,
    patches: t.txns.reduce((k, x) => k + x.patches.length, 0), agents: t.numAgents ?? null,
  }
})

const NODE = [process.execPath, '--expose-gc', '--max-old-space-size=8192']
function command(impl, tr) {
  if (impl === 'mycel') return [args.mycel, ['bench', 'trace', tr.file, '--json']]
  const script = impl === 'yjs' || impl === 'automerge'
    ? path.join(peerbench, tr.concurrent ? 'concurrent.mjs' : 'seq.mjs')
    : path.join(here, 'traces.mjs')
  return [NODE[0], [...NODE.slice(1), script, tr.file, '--lib', impl, '--reps', innerReps]]
}

function run(impl, tr, rep) {
  const [cmd, argv] = command(impl, tr)
  const t0 = Date.now()
  const p = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 28 })
  const wall_s = (Date.now() - t0) / 1000
  const base = { lib: impl, trace: tr.name, mode: tr.concurrent ? 'concurrent' : 'seq', rep, wall_s }
  // mycel prints one indented JSON object, the node scripts one JSON line.
  const out = (p.stdout || '').trim()
  let row
  try { row = JSON.parse(impl === 'mycel' ? out : out.split('\n').filter(l => l.startsWith('{')).pop()) } catch {
    return { ...base, ok: false, error: { message: `exit ${p.status}${p.error ? ` (${p.error.message})` : ''}: ${(p.stderr || '').trim().split('\n').slice(-3).join(' / ')}` } }
  }
  if (impl === 'mycel') row = { ...row, ok: row.correct === true, ...(row.correct ? {} : { error: { message: 'final text differs from endContent' } }) }
  return { ...row, ...base, ok: row.ok === true && p.status === 0 }
}

const rows = []
if (args.out) fs.writeFileSync(args.out, '')
for (let r = 0; r < reps; r++) {
  for (const tr of traces) {
    for (let k = 0; k < impls.length; k++) {
      const impl = impls[(k + r) % impls.length]
      if (skipped(impl, tr.name)) continue
      process.stderr.write(`rep ${r + 1}/${reps} ${tr.name}: ${impl} … `)
      const row = run(impl, tr, r + 1)
      process.stderr.write(`${row.wall_s.toFixed(1)} s${row.ok ? '' : ` FAILED: ${JSON.stringify(row.error)}`}\n`)
      rows.push(row)
      if (args.out) fs.appendFileSync(args.out, JSON.stringify(row) + '\n')
    }
  }
}

// ------------------------------------------------------------------ the tables

const MiB = 1 << 20
const fmtMs = x => x == null ? '—' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2)
const fmtB = x => x == null ? '—' : Math.round(x).toLocaleString('en-US')
const fmtMB = x => x == null ? '—' : x.toFixed(1)
const fmtX = (x, base) => x == null || base == null || base === 0 ? '' : ` (${x / base >= 10 ? (x / base).toFixed(0) : (x / base).toFixed(1)}×)`
const med = (rs, f) => {
  const xs = rs.map(f).filter(x => typeof x === 'number')
  return xs.length ? median(xs) : null
}

// One implementation's numbers on one trace, under common names.
function figures(impl, rs, concurrent) {
  if (impl === 'mycel') {
    return concurrent
      ? {
          merge: med(rs, r => r.state_load_ms), mergeChanges: med(rs, r => r.load_ms), replay: med(rs, r => r.wall_ms),
          encode: null, bytes: med(rs, r => r.state_bytes), gzip: med(rs, r => r.state_gzip_bytes),
          docMB: med(rs, r => r.heap_bytes / MiB), peakMB: med(rs, r => r.peak_rss_bytes / MiB),
        }
      : {
          apply: med(rs, r => r.wall_ms), encode: null, bytes: med(rs, r => r.state_bytes), gzip: med(rs, r => r.state_gzip_bytes),
          load: med(rs, r => r.state_load_ms), docMB: med(rs, r => r.heap_bytes / MiB), peakMB: med(rs, r => r.peak_rss_bytes / MiB),
        }
  }
  const common = {
    encode: med(rs, r => r.ms_encode), bytes: med(rs, r => r.bytes_encoded), gzip: med(rs, r => r.bytes_encoded_gzip),
    docMB: med(rs, r => r.mem_doc_mb), peakMB: med(rs, r => r.maxrss_mb), endMB: med(rs, r => r.rss_mb),
  }
  return concurrent
    ? { ...common, merge: med(rs, r => r.ms_merge), mergeChanges: med(rs, r => r.ms_merge_changes), replay: med(rs, r => r.ms_replay) }
    : { ...common, apply: med(rs, r => r.ms_apply), load: med(rs, r => r.ms_load) }
}

const version = impl => {
  if (impl === 'mycel') {
    const g = spawnSync('git', ['-C', here, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' })
    return g.status === 0 ? `mycel ${g.stdout.trim()}` : 'mycel'
  }
  const v = rows.find(r => r.lib === impl && r.lib_version)
  return v ? `${impl} ${v.lib_version}` : impl
}
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0]?.model
console.log(`Editing traces, median of ${reps} interleaved runs (each a fresh process; encode/load steps repeated ${innerReps}× ` +
  `in each, their median taken); ${impls.map(version).join(', ')}; node ${process.version}; ` +
  `${os.availableParallelism()} cores, ${cpu}.`)

for (const tr of traces) {
  const desc = tr.concurrent
    ? `concurrent, ${tr.txns.toLocaleString('en-US')} txns, ${tr.patches.toLocaleString('en-US')} patches, ${tr.agents} agents`
    : `sequential, ${tr.txns.toLocaleString('en-US')} txns, ${tr.patches.toLocaleString('en-US')} patches`
  console.log(`\n### ${tr.name} (${desc})\n`)
  const head = tr.concurrent
    ? ['merge ms', 'merge-changes ms', 'bytes', 'gzip bytes', 'encode ms', 'replay ms', 'doc MB', 'peak RSS MB', 'run s', 'runs']
    : ['apply ms', 'bytes', 'gzip bytes', 'encode ms', 'load ms', 'doc MB', 'peak RSS MB', 'run s', 'runs']
  console.log(`| impl | ${head.join(' | ')} |`)
  console.log(`|---|${head.map(() => '---:').join('|')}|`)
  let base = null
  for (const impl of impls) {
    const all = rows.filter(r => r.lib === impl && r.trace === tr.name)
    const ok = all.filter(r => r.ok)
    const runS = med(all, r => r.wall_s)
    if (skipped(impl, tr.name) && all.length === 0) {
      console.log(`| ${impl} | ${head.slice(0, -2).map(() => '').join(' | ')} | | skipped |`); continue
    }
    if (ok.length < all.length || ok.length === 0) {
      const e = (all.find(r => !r.ok) || {}).error || {}
      const why = e.message || (e.stage ? `${e.stage}${e.got_len != null ? ` (len ${e.got_len} vs ${e.want_len})` : ''}` : 'failed')
      console.log(`| ${impl} | ${head.slice(0, -2).map(() => '').join(' | ')} | ${runS == null ? '' : runS.toFixed(1)} | FAIL ${all.length - ok.length}/${all.length}: ${why} |`)
      continue
    }
    const f = figures(impl, ok, tr.concurrent)
    if (impl === 'mycel') base = f
    const x = (key) => impl === 'mycel' ? '' : fmtX(f[key], base && base[key])
    const cells = tr.concurrent
      ? [fmtMs(f.merge) + x('merge'), fmtMs(f.mergeChanges) + x('mergeChanges'), fmtB(f.bytes) + x('bytes'), fmtB(f.gzip),
          fmtMs(f.encode), fmtMs(f.replay), fmtMB(f.docMB), fmtMB(f.peakMB)]
      : [fmtMs(f.apply) + x('apply'), fmtB(f.bytes) + x('bytes'), fmtB(f.gzip), fmtMs(f.encode), fmtMs(f.load) + x('load'),
          fmtMB(f.docMB), fmtMB(f.peakMB)]
    console.log(`| ${impl} | ${cells.join(' | ')} | ${runS.toFixed(1)} | ${ok.length} |`)
  }
}

console.log(`
(N×): the library's figure over mycel's. bytes: the whole document encoded (mycel MarshalState, Yjs update v1,
Automerge save, Loro snapshot, diamond-types toBytes); gzip: that gzipped (level 6; mycel and traces.mjs only).
Sequential: apply = every txn as one local transaction; load = a fresh document decodes the encoding and reads the
text. Concurrent: merge = a fresh peer loads the final encoding and reads the text; merge-changes = a fresh peer
receives every txn's own change (peers: in trace order, as one batch; mycel: one at a time in a random causal
order); replay = building the per-agent histories (replicas per branch; diamond-types one oplog), not comparable
across libraries. doc MB: mycel live Go heap after the replay minus before (runtime.GC); Loro and diamond-types
heapUsed + external after a GC minus before, i.e. wasm memory growth (a high-water mark), sequential traces only;
not measured for Yjs and Automerge (seq.mjs reports process RSS only). peak RSS: the whole process (mycel VmHWM, node
maxRSS; includes runtime and the decoded trace). run s: wall time of one whole process.`)
