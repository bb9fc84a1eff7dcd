// Summarises the conformance runs of run.sh and checks them against expected-failures.txt.
//
//   node summarize.mjs OUT_DIR EXPECTED_FAILURES CONFIG...
//
// Reads OUT_DIR/<config>/conformance.log (the suite's own `=== SUMMARY ===` block: one
// `✓|✗ <scenario>: N passed, M failed` line per scenario) and, for the details of failed
// checks, OUT_DIR/<config>/results/*/checks.json. Writes OUT_DIR/summary.json and
// OUT_DIR/summary.txt, prints the table, and exits 1 when a scenario failed that no line of
// EXPECTED_FAILURES covers, when an entry covers no failure (stale: remove it), or when a
// configuration produced no summary (the suite or the setup broke).
//
// EXPECTED_FAILURES: one entry a line, `<pattern> <reason…>`; `#` at the start of a line or
// after a blank starts a comment. The pattern is `<scenario>` (any configuration) or
// `<config>:<scenario>`; `*` matches any run of characters. A leading `?` marks a flaky
// failure: the runs it covers may pass, so it is never stale.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [outDir, expectedFile, ...configs] = process.argv.slice(2);
if (!outDir || !expectedFile || configs.length === 0) {
  console.error('usage: node summarize.mjs OUT_DIR EXPECTED_FAILURES CONFIG...');
  process.exit(2);
}

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

const unexpected = [];
let expectedCount = 0;
for (const r of results) {
  if (r.ok) continue;
  const entry = expected.find((e) => e.config.test(r.config) && e.scenario.test(r.scenario));
  r.checks = failedChecks(r.config, r.scenario);
  if (entry) {
    entry.used = (entry.used || 0) + 1;
    r.expected = entry;
    expectedCount += 1;
  } else {
    unexpected.push(r);
  }
}
// An entry is stale when it applies to a configuration that ran but covers no failure.
const stale = expected.filter(
  (e) => !e.used && !e.flaky && results.some((r) => e.config.test(r.config) && e.scenario.test(r.scenario))
);

// The table: one row per scenario, one column per configuration.
const scenarios = [...new Set(results.map((r) => r.scenario))];
const width = Math.max(8, ...scenarios.map((s) => s.length));
const cell = (config, scenario) => {
  const r = results.find((x) => x.config === config && x.scenario === scenario);
  if (!r) return '-';
  if (r.ok) return 'pass';
  return r.expected ? 'xfail' : 'FAIL';
};
const lines = [];
lines.push(['scenario'.padEnd(width), ...configs.map((c) => c.padEnd(7))].join('  '));
for (const s of scenarios) {
  lines.push([s.padEnd(width), ...configs.map((c) => cell(c, s).padEnd(7))].join('  '));
}
lines.push('');
for (const r of unexpected) {
  lines.push(`FAIL  ${r.config}:${r.scenario}`);
  for (const c of r.checks) lines.push(`        ${c}`);
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
lines.push(`conformance: ${passed} passed, ${failed} failed`);

const report = lines.join('\n') + '\n';
process.stdout.write(report);
writeFileSync(path.join(outDir, 'summary.txt'), report);
writeFileSync(
  path.join(outDir, 'summary.json'),
  JSON.stringify(
    {
      configs,
      results: results.map((r) => ({ ...r, expected: r.expected?.reason })),
      stale: stale.map((e) => ({ line: e.number, pattern: e.pattern, reason: e.reason })),
      broken
    },
    null,
    2
  ) + '\n'
);
process.exit(failed > 0 ? 1 : 0);
