/**
 * `npm run bench:micro` (a table) or `npm run bench:micro -- --json` (one JSON line per case):
 * the hot paths that run on every step, timed in a tight loop. These lived in the test suite as
 * nanosecond assertions, which failed whenever the machine was busy; a benchmark reports, it does not
 * fail. Each case warms up, then takes the median of seven timed batches. Runs against the built
 * package (dist/), as users run it. Reference (quiet dev box): a compiled comparison ~120–170 ns,
 * a one-placeholder template ~100 ns.
 */
import { compileExpression, fillPlaceholders } from '@trellis-ai/trellis';

interface Case {
  readonly name: string;
  readonly iterations: number;
  readonly run: () => unknown;
}

const json = process.argv.includes('--json');
const BATCHES = 7;

const comparison = compileExpression("a.b > 3 && c == 'x'");
const comparisonContext = { a: { b: 5 }, c: 'x' };
const placeholderContext = { input: { name: 'Ada' } };

// Compiling is not timed here: compiled expressions are cached by source, so a loop would time the cache.
const cases: readonly Case[] = [
  { name: 'expression: evaluate a compiled comparison', iterations: 100_000, run: () => comparison.evaluate(comparisonContext) },
  { name: 'template: fill one placeholder', iterations: 200_000, run: () => fillPlaceholders('Hello {{ input.name }}!', placeholderContext) },
];

/** Nanoseconds per call: the median batch, so one descheduled batch does not move the result. */
function measure({ iterations, run }: Case): { readonly ns: number; readonly samples: number[] } {
  for (let i = 0; i < iterations / 5; i++) run();
  const samples: number[] = [];
  for (let batch = 0; batch < BATCHES; batch++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    samples.push(Number(process.hrtime.bigint() - started) / iterations);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { ns: sorted[Math.floor(sorted.length / 2)]!, samples };
}

for (const c of cases) {
  const { ns, samples } = measure(c);
  if (json) console.log(JSON.stringify({ case: c.name, ns_per_call: Math.round(ns), samples_ns: samples.map(Math.round) }));
  else console.error(`  ${c.name.padEnd(46)} ${ns.toFixed(0).padStart(8)} ns/call  [${samples.map((s) => s.toFixed(0)).join(', ')}]`);
}
