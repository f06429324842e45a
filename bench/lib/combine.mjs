#!/usr/bin/env node
/**
 * Combine several runs of a benchmark into medians: the figures we quote.
 *
 *   node lib/combine.mjs run1.txt run2.txt run3.txt            # Markdown tables
 *   node lib/combine.mjs --json run1.txt run2.txt run3.txt     # one BENCH_JSON line
 *
 * Each file is a benchmark's output; its `BENCH_JSON {...}` line is read. The shape any
 * benchmark should print (generic: nothing here knows about locks):
 *   { benchmark, env: { date, node, loadavg, ... }, params: {...},
 *     scenarios: { <id>: { title, rows: { <row name>: { <metric>: number | null, ... } } } } }
 * Every numeric metric becomes the median across runs; rows and metrics missing from
 * some runs are combined over the runs that have them.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { median } from './stats.mjs';
import { formatBytes, formatOps, formatRatio, printJsonLine, renderMarkdownTable } from './format.mjs';

/** The parsed `BENCH_JSON` object of one run's output (throws if there is none). */
export function readReport(text, tag = 'BENCH_JSON') {
  const line = text.split('\n').find((l) => l.startsWith(`${tag} `));
  if (!line) throw new Error(`no "${tag}" line found`);
  return JSON.parse(line.slice(tag.length + 1));
}

/** Median of every numeric metric across `reports` (same benchmark). */
export function combineReports(reports) {
  const scenarios = {};
  for (const report of reports) {
    for (const [id, scenario] of Object.entries(report.scenarios)) {
      const into = (scenarios[id] ??= { title: scenario.title, rows: {} });
      for (const [name, metrics] of Object.entries(scenario.rows)) {
        const row = (into.rows[name] ??= {});
        for (const [metric, value] of Object.entries(metrics)) {
          if (typeof value === 'number') (row[metric] ??= []).push(value);
          else if (!(metric in row)) row[metric] = value;
        }
      }
    }
  }
  for (const scenario of Object.values(scenarios)) {
    for (const row of Object.values(scenario.rows)) {
      for (const [metric, values] of Object.entries(row)) if (Array.isArray(values)) row[metric] = median(values);
    }
  }
  return {
    benchmark: reports[0]?.benchmark,
    runs: reports.map((r) => ({ date: r.env?.date, loadavg: r.env?.loadavg })),
    env: reports[0]?.env,
    params: reports[0]?.params,
    scenarios,
  };
}

/** How a metric is shown, from its name. */
function formatterFor(metric) {
  if (/ratio/i.test(metric)) return formatRatio;
  if (/bytes/i.test(metric)) return (v) => formatBytes(v, { signed: true });
  if (/opsPerSec/i.test(metric)) return formatOps;
  return (v) => (typeof v === 'number' ? v.toLocaleString('en', { maximumFractionDigits: 2 }) : String(v ?? ''));
}

/** Markdown tables, one per scenario, columns = the metrics seen. */
export function toMarkdown(combined, titles = {}) {
  const out = [];
  for (const [id, scenario] of Object.entries(combined.scenarios)) {
    const metrics = [...new Set(Object.values(scenario.rows).flatMap((r) => Object.keys(r)))];
    const columns = [
      { key: 'name', title: 'candidate', align: 'left' },
      ...metrics.map((m) => ({ key: m, title: titles[m] ?? m, format: (v) => (v === null || v === undefined ? '—' : formatterFor(m)(v)) })),
    ];
    const rows = Object.entries(scenario.rows).map(([name, r]) => ({ name, ...r }));
    out.push(`**(${id}) ${scenario.title}**\n\n${renderMarkdownTable(columns, rows)}\n`);
  }
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length === 0) {
    console.error('usage: node lib/combine.mjs [--json] RUN_OUTPUT...');
    process.exit(2);
  }
  const combined = combineReports(
    files.map((f) => {
      try {
        return readReport(readFileSync(f, 'utf8'));
      } catch (error) {
        console.error(`${f}: ${error.message}`);
        process.exit(1);
      }
    }),
  );
  if (json) printJsonLine('BENCH_JSON', combined);
  else {
    console.log(`median of ${files.length} runs: ${combined.runs.map((r) => `${r.date} (load ${r.loadavg?.join(' ')})`).join('; ')}\n`);
    console.log(toMarkdown(combined));
  }
}
