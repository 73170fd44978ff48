#!/usr/bin/env node
// Runs `mycel bench crdt` and crdt.mjs on each peer library interleaved, rep by
// rep (each run a fresh process, the order rotated every rep), and prints one
// Markdown table of the medians: per scenario and implementation, time / docSize /
// parseTime in the crdt-benchmarks sense. Every JSON line is also written to
// --out (default: none) for later use.
//
//   go build -o /tmp/mycel ./cmd/mycel
//   node internal/bench/peers/compare.mjs --mycel /tmp/mycel [--reps 5] [--n 6000]
//        [--libs yjs,automerge,loro,diamond-types] [--only B1.1,B2.4] [--out rows.jsonl]
//        [--warmup W]   (W unmeasured runs of each scenario in each peer process first;
//                        default 0, as the suite: each measured on a cold JIT)

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = { mycel: 'mycel', reps: '5', n: '6000', libs: 'yjs,automerge,loro,diamond-types', only: '', out: '', warmup: '0' }
for (let i = 2; i < process.argv.length; i += 2) {
  if (!process.argv[i].startsWith('--') || i + 1 >= process.argv.length) {
    console.error('usage: node compare.mjs --mycel PATH [--reps R] [--n N] [--libs yjs,…] [--only B1.1,…] [--out FILE]')
    process.exit(2)
  }
  args[process.argv[i].slice(2)] = process.argv[i + 1]
}
const reps = Math.max(1, parseInt(args.reps, 10))
const impls = ['mycel', ...args.libs.split(',').filter(Boolean)]
const only = args.only ? ['--only', args.only] : []

function run(impl) {
  const [cmd, argv] = impl === 'mycel'
    ? [args.mycel, ['bench', 'crdt', '--json', '--reps', '1', '--n', args.n, ...only]]
    : [process.execPath, ['--expose-gc', '--max-old-space-size=8192', path.join(here, 'crdt.mjs'), '--lib', impl, '--reps', '1', '--warmup', args.warmup, '--n', args.n, ...only]]
  const p = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 28 })
  if (p.status !== 0) {
    console.error(`${impl}: exit ${p.status}\n${p.stderr}`)
    process.exit(1)
  }
  return impl === 'mycel' ? JSON.parse(p.stdout) : p.stdout.trim().split('\n').map(l => JSON.parse(l))
}

const rows = [] // every row of every rep
for (let r = 0; r < reps; r++) {
  for (let k = 0; k < impls.length; k++) {
    const impl = impls[(k + r) % impls.length]
    process.stderr.write(`rep ${r + 1}/${reps}: ${impl}\n`)
    for (const row of run(impl)) {
      if (row.ok === false) {
        console.error(`${impl} ${row.scenario}: ${row.error}`)
        process.exit(1)
      }
      rows.push({ ...row, rep: r + 1 })
    }
  }
}
if (args.out) fs.writeFileSync(args.out, rows.map(r => JSON.stringify(r)).join('\n') + '\n')

const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}
const fmtMs = x => x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
const fmtB = x => x >= 10000 ? `${(x / 1000).toFixed(0)}k` : String(x)

const scenarios = [...new Map(rows.map(r => [r.scenario, r.title])).entries()]
const versions = impls.map(i => {
  const v = rows.find(r => r.lib === i && r.lib_version)
  return v ? `${i} ${v.lib_version}` : i
})
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0]?.model
console.log(`crdt-benchmarks B1–B3, N = ${args.n}, median of ${reps} interleaved runs, ${args.warmup} warm-up; ${versions.join(', ')}; ` +
  `node ${process.version}; ${os.availableParallelism()} cores, ${cpu}.`)
console.log('Each cell: time ms / docSize bytes / parseTime ms (— : the library has no such type).\n')
console.log(`| scenario | ${impls.join(' | ')} |`)
console.log(`|---|${impls.map(() => '---:').join('|')}|`)
for (const [id, title] of scenarios) {
  const cells = impls.map(impl => {
    const rs = rows.filter(r => r.lib === impl && r.scenario === id && r.ok)
    if (rs.length === 0) return '—'
    return `${fmtMs(median(rs.map(r => r.ms_time)))} / ${fmtB(median(rs.map(r => r.bytes_doc)))} / ${fmtMs(median(rs.map(r => r.ms_parse)))}`
  })
  console.log(`| ${id} ${title} | ${cells.join(' | ')} |`)
}
