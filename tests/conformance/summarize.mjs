// Summarises the conformance runs of run.sh and checks them against expected-failures.txt
// and, for a configuration with a baseline, against the baseline's results.
//
//   node summarize.mjs [--reference CONFIG]... [--baseline CONFIG=BASE]... \
//     OUT_DIR EXPECTED_FAILURES CONFIG...
//
// Reads OUT_DIR/<config>/conformance.log (the suite's own `=== SUMMARY ===` block: one
// `✓|✗ <scenario>: N passed, M failed` line per scenario) and, for the details of failed
// checks, OUT_DIR/<config>/results/*/checks.json. Writes OUT_DIR/summary.json and
// OUT_DIR/summary.txt, prints the table, and exits 1 when a scenario failed that is not
// accounted for (below), when an entry of EXPECTED_FAILURES covers no failure (stale:
// remove it), or when a configuration produced no summary (the suite or the setup broke).
//
// A failed scenario is accounted for when
//   * its configuration is a --reference one (a third-party server on its own, whose
//     failures are not the gateway's): shown as `ref`;
//   * its configuration has a --baseline BASE (that server behind the gateway) and the
//     scenario fails in BASE too: shown as `base` (a scenario that passes in BASE must pass
//     here; the baseline must be among the CONFIGs);
//   * a line of EXPECTED_FAILURES covers it: shown as `xfail`.
//
// EXPECTED_FAILURES: one entry a line, `<pattern> <reason…>`; `#` at the start of a line or
// after a blank starts a comment. The pattern is `<scenario>` (any configuration) or
// `<config>:<scenario>`; `*` matches any run of characters. A leading `?` marks a flaky
// failure: the runs it covers may pass, so it is never stale.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const usage = () => {
  console.error(
    'usage: node summarize.mjs [--reference CONFIG]... [--baseline CONFIG=BASE]... OUT_DIR EXPECTED_FAILURES CONFIG...'
  );
  process.exit(2);
};
const args = process.argv.slice(2);
const references = new Set();
const baselines = new Map(); // config -> its baseline config
while (args[0]?.startsWith('--')) {
  const [option, value] = args.splice(0, 2);
  if (option === '--reference' && value) {
    references.add(value);
  } else if (option === '--baseline' && /^[^=]+=[^=]+$/.test(value ?? '')) {
    const [config, base] = value.split('=');
    baselines.set(config, base);
  } else {
    usage();
  }
}
const [outDir, expectedFile, ...configs] = args;
if (!outDir || !expectedFile || configs.length === 0) usage();
// Only the configurations that ran.
for (const reference of [...references]) if (!configs.includes(reference)) references.delete(reference);
for (const [config] of [...baselines]) if (!configs.includes(config)) baselines.delete(config);

const globToRegExp = (glob) =>
  new RegExp(
    '^' + glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'
  );

const expected = readFileSync(expectedFile, 'utf8')
  .split('\n')
  .map((line, i) => ({ line: line.replace(/(^|\s)#.*/, '').trim(), number: i + 1 }))
  .filter(({ line }) => line !== '')
  .map(({ line, number }) => {
    const [pattern, ...reason] = line.split(/\s+/);
    const flaky = pattern.startsWith('?');
    const bare = flaky ? pattern.slice(1) : pattern;
    const [config, scenario] = bare.includes(':') ? bare.split(':', 2) : ['*', bare];
    return {
      pattern,
      flaky,
      number,
      reason: reason.join(' ') || '(no reason given)',
      config: globToRegExp(config),
      scenario: globToRegExp(scenario),
      used: false
    };
  });

/** Failed checks of a scenario, from the suite's checks.json files. */
function failedChecks(config, scenario) {
  const dir = path.join(outDir, config, 'results');
  if (!existsSync(dir)) return [];
  const prefix = `server-${scenario}-`;
  const checks = [];
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith(prefix) || !/^\d{4}-/.test(entry.slice(prefix.length))) continue;
    const file = path.join(dir, entry, 'checks.json');
    if (!existsSync(file)) continue;
    for (const check of JSON.parse(readFileSync(file, 'utf8'))) {
      if (check.status === 'FAILURE') checks.push(`${check.id}: ${check.errorMessage ?? ''}`);
    }
  }
  return checks;
}

const results = []; // { config, scenario, passed, failed, ok }
const broken = [];
for (const config of configs) {
  const log = path.join(outDir, config, 'conformance.log');
  const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
  const summary = text.split('=== SUMMARY ===')[1];
  if (!summary) {
    broken.push(`${config}: no summary in ${log} (see that log and ${config}/gateway.log)`);
    continue;
  }
  for (const m of summary.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    results.push({
      config,
      scenario: m[2],
      passed: Number(m[3]),
      failed: Number(m[4]),
      ok: m[1] === '✓' && Number(m[4]) === 0
    });
  }
}

const resultOf = (config, scenario) =>
  results.find((x) => x.config === config && x.scenario === scenario);

const unexpected = [];
let expectedCount = 0;
for (const r of results) {
  if (r.ok) continue;
  r.checks = failedChecks(r.config, r.scenario);
  if (references.has(r.config)) {
    r.reference = true;
    continue;
  }
  const base = baselines.get(r.config);
  const inBase = base === undefined ? undefined : resultOf(base, r.scenario);
  if (inBase && !inBase.ok) {
    r.baseline = base;
    continue;
  }
  const entry = expected.find((e) => e.config.test(r.config) && e.scenario.test(r.scenario));
  if (entry) {
    entry.used = (entry.used || 0) + 1;
    r.expected = entry;
    expectedCount += 1;
  } else {
    unexpected.push(r);
  }
}
// An entry is stale when it applies to a configuration that ran but covers no failure.
// (Runs of a reference configuration, and runs that fail in their baseline, need no entry.)
const stale = expected.filter(
  (e) =>
    !e.used &&
    !e.flaky &&
    results.some(
      (r) =>
        !r.reference &&
        !r.baseline &&
        !references.has(r.config) &&
        e.config.test(r.config) &&
        e.scenario.test(r.scenario)
    )
);

// Each configuration with a baseline, compared with it (scenarios that ran in both).
const comparisons = [...baselines].map(([config, base]) => {
  const pairs = results
    .filter((r) => r.config === config)
    .map((r) => ({ scenario: r.scenario, here: r, there: resultOf(base, r.scenario) }))
    .filter((p) => p.there);
  const names = (keep) => pairs.filter(keep).map((p) => p.scenario);
  return {
    config,
    baseline: base,
    // Pass in the baseline: each must pass here.
    passing: names((p) => p.there.ok),
    lost: names((p) => p.there.ok && !p.here.ok),
    // Fail in the baseline: not the gateway's concern.
    failing: names((p) => !p.there.ok),
    gained: names((p) => !p.there.ok && p.here.ok)
  };
});

// The table: one row per scenario, one column per configuration.
const scenarios = [...new Set(results.map((r) => r.scenario))];
const width = Math.max(8, ...scenarios.map((s) => s.length));
const widths = configs.map((c) => Math.max(7, c.length));
const cell = (config, scenario) => {
  const r = resultOf(config, scenario);
  if (!r) return '-';
  if (r.ok) return 'pass';
  if (r.reference) return 'ref';
  if (r.baseline) return 'base';
  return r.expected ? 'xfail' : 'FAIL';
};
const lines = [];
lines.push(['scenario'.padEnd(width), ...configs.map((c, i) => c.padEnd(widths[i]))].join('  '));
for (const s of scenarios) {
  lines.push([s.padEnd(width), ...configs.map((c, i) => cell(c, s).padEnd(widths[i]))].join('  '));
}
const legend = [];
if (references.size > 0) {
  legend.push(`ref = failed in ${[...references].join(', ')} (the server on its own; not counted)`);
}
for (const [config, base] of baselines) {
  legend.push(`base = failed in ${config} and in ${base} too (not the gateway's; not counted)`);
}
if (results.some((r) => r.expected)) legend.push(`xfail = listed in ${path.basename(expectedFile)}`);
for (const l of legend) lines.push(`(${l})`);
lines.push('');
for (const r of unexpected) {
  const base = baselines.get(r.config);
  const why = base && resultOf(base, r.scenario)?.ok ? ` (passes in ${base})` : '';
  lines.push(`FAIL  ${r.config}:${r.scenario}${why}`);
  for (const c of r.checks) lines.push(`        ${c}`);
}
for (const c of comparisons) {
  lines.push(
    `${c.config} vs ${c.baseline}: ${c.passing.length - c.lost.length} of the ${c.passing.length} scenarios ` +
      `that pass in ${c.baseline} pass in ${c.config}` +
      (c.lost.length > 0 ? ` (not: ${c.lost.join(', ')})` : '')
  );
  if (c.failing.length > 0) {
    lines.push(
      `      ${c.failing.length} scenarios fail in ${c.baseline} (the server's own failures, not counted)` +
        (c.gained.length > 0 ? `; of these, ${c.gained.join(', ')} pass(es) in ${c.config}` : '')
    );
    for (const scenario of c.failing) {
      // The first failed check, `<check id>: <message>`; the id is mostly the scenario's.
      const first = resultOf(c.baseline, scenario).checks?.[0] ?? '';
      lines.push(`        ${first.startsWith(`${scenario}: `) ? first : `${scenario}: ${first}`}`);
    }
  }
}
for (const r of results.filter((x) => !x.ok && x.expected)) {
  lines.push(`xfail ${r.config}:${r.scenario}: ${r.checks[0] ?? ''}`);
}
for (const e of expected.filter((x) => x.used)) {
  lines.push(`      ${e.used} run(s) covered by ${path.basename(expectedFile)}:${e.number} \`${e.pattern}\`: ${e.reason}`);
}
for (const e of stale) {
  lines.push(
    `STALE ${expectedFile}:${e.number}: \`${e.pattern}\` covers no failure any more; remove it`
  );
}
for (const b of broken) lines.push(`BROKEN ${b}`);

const passed = results.filter((r) => r.ok).length;
const failed = unexpected.length + stale.length + broken.length;
lines.push('');
if (expectedCount > 0) {
  lines.push(`${expectedCount} scenario runs failed as expected (${path.basename(expectedFile)})`);
}
const referenceCount = results.filter((r) => r.reference).length;
const baselineCount = results.filter((r) => r.baseline).length;
if (referenceCount + baselineCount > 0) {
  lines.push(
    `${referenceCount + baselineCount} scenario runs failed that are not the gateway's ` +
      `(${referenceCount} ref, ${baselineCount} base)`
  );
}
lines.push(`conformance: ${passed} passed, ${failed} failed`);

const report = lines.join('\n') + '\n';
process.stdout.write(report);
writeFileSync(path.join(outDir, 'summary.txt'), report);
writeFileSync(
  path.join(outDir, 'summary.json'),
  JSON.stringify(
    {
      configs,
      references: [...references],
      baselines: Object.fromEntries(baselines),
      results: results.map((r) => ({ ...r, expected: r.expected?.reason })),
      comparisons,
      stale: stale.map((e) => ({ line: e.number, pattern: e.pattern, reason: e.reason })),
      broken
    },
    null,
    2
  ) + '\n'
);
process.exit(failed > 0 ? 1 : 0);
