// The HTML contact report in headless Chromium (driven by playwright-core):
// no console error, no request leaves the page, every chart is drawn with
// marks of non-zero size, the page has its headings, captions and SVG
// titles, the figures it shows are those of `cadenza report --format json`,
// and (with axe-core) no serious or critical accessibility violation.
// Screenshots go to ARTEFACTS.
//
//   node report-browser.mjs REPORT.html REPORT.json ARTEFACTS NPM_DIR CHROMIUM
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [htmlPath, jsonPath, artefacts, npmDir, chromiumPath] = process.argv.slice(2);
const require = createRequire(path.join(npmDir, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');
const report = JSON.parse(readFileSync(jsonPath, 'utf8'));

let failures = 0;
const fail = (msg) => { console.error(`FAIL: ${msg}`); failures++; };
const pass = (msg) => console.log(`ok: ${msg}`);
const check = (cond, msg) => (cond ? pass(msg) : fail(msg));

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  const url = pathToFileURL(htmlPath).href;
  await page.goto(url, { waitUntil: 'load' });

  await page.screenshot({ path: path.join(artefacts, 'report.png'), fullPage: true });
  check(errors.length === 0, `no console errors (${errors.join('; ') || 'none'})`);
  check(requests.length === 0, `no request leaves the page (${requests.join(' ') || 'none'})`);

  // every chart: a box on the page, and marks drawn inside it
  const charts = await page.$$eval('svg[data-chart]', (svgs) => svgs.map((s) => {
    const b = s.getBoundingClientRect();
    const marks = [...s.querySelectorAll('circle, rect, polyline, path')]
      .map((m) => m.getBoundingClientRect())
      .filter((r) => r.width > 0 || r.height > 0);
    return { kind: s.dataset.chart, w: b.width, h: b.height, marks: marks.length,
             title: s.querySelector(':scope > title')?.textContent || '',
             labelled: !!s.getAttribute('aria-labelledby') && s.getAttribute('role') === 'img' };
  }));
  for (const kind of ['hours', 'funnel', 'comparison']) {
    const c = charts.filter((x) => x.kind === kind);
    check(c.length > 0 && c.every((x) => x.w > 100 && x.h > 50 && x.marks > 2),
          `${kind} chart rendered: ${JSON.stringify(c.map(({ w, h, marks }) => ({ w, h, marks })))}`);
    check(c.every((x) => x.title.length > 10 && x.labelled), `${kind} chart has an svg title`);
  }
  check(charts.filter((x) => x.kind === 'comparison').length === report.comparisons.length,
        'one comparison chart per comparison');
  // the hours chart: one line per channel, a point per hour with attempts
  const points = await page.$$eval('svg[data-chart="hours"] g[data-channel]', (gs) =>
    Object.fromEntries(gs.map((g) => [g.dataset.channel, g.querySelectorAll('circle').length])));
  for (const h of report.hours) {
    const want = h.attempts.filter((n) => n > 0).length;
    check(points[h.channel] === want, `hours chart: ${want} points for ${h.channel}`);
  }
  let i = 0;
  for (const el of await page.$$('svg[data-chart]'))
    await el.screenshot({ path: path.join(artefacts, `chart-${i++}.png`) });

  // structure: one h1, sections with h2, every table captioned
  const s = await page.evaluate(() => ({
    h1: document.querySelectorAll('h1').length,
    h2: document.querySelectorAll('h2').length,
    tables: document.querySelectorAll('table').length,
    captions: document.querySelectorAll('table > caption').length,
    lang: document.documentElement.lang,
    title: document.title,
  }));
  check(s.h1 === 1 && s.h2 >= 5 && s.lang === 'en' && s.title.includes(report.from),
        `headings and title (${JSON.stringify(s)})`);
  check(s.tables > 3 && s.tables === s.captions, `every table has a caption (${s.captions}/${s.tables})`);

  // the figures on the page against the JSON
  const cells = await page.$$eval('[data-key]', (rows) => rows.map((r) => ({
    key: r.dataset.key,
    v: Object.fromEntries([...r.querySelectorAll('[data-k]')].map((c) => [c.dataset.k, c.textContent.trim()])),
  })));
  const byKey = new Map();
  for (const c of cells) byKey.set(c.key, { ...(byKey.get(c.key) || {}), ...c.v });
  let compared = 0;
  const same = (where, field, shown, want, kind) => {
    compared++;
    if (shown === undefined) return fail(`${where}: ${field} not on the page`);
    if (want === null || want === undefined) {
      if (shown !== '-') fail(`${where}: ${field} shows '${shown}', expected '-'`);
      return;
    }
    let got, tol;
    if (kind === 'pct') { got = parseFloat(shown); tol = 0.05 + 1e-9; want = 100 * want; }
    else if (kind === 'int') { got = Number(shown); tol = 0; }
    else { got = parseFloat(shown); tol = kind; }
    if (!(Math.abs(got - want) <= tol)) fail(`${where}: ${field} shows '${shown}', JSON says ${want}`);
  };
  const counts = (where, v, j) => {
    for (const f of ['planned', 'attempts', 'delivered', 'payments', 'opt_outs']) same(where, f, v[f], j[f], 'int');
    for (const f of ['contact_rate', 'rpc_rate', 'promise_rate', 'kept_rate']) same(where, f, v[f], j[f], 'pct');
    same(where, 'recovered', v.recovered, j.recovered, 0.005);
    same(where, 'cost', v.cost, j.cost, 0.005 + 1e-9);
    same(where, 'cost_per_recovered', v.cost_per_recovered, j.cost_per_recovered, 0.00005 + 1e-9);
  };
  const total = byKey.get('total') || {};
  counts('total', total, report.total);
  same('summary', 'debtors', total.debtors, report.total.debtors, 'int');
  for (const r of report.rows) {
    const key = `row|${r.strategy}|${r.variant}|${r.tier}|${r.channel}`;
    counts(key, byKey.get(key) || {}, r);
  }
  for (const v of report.variants) {
    const key = `variant|${v.strategy}|${v.variant}`;
    const shown = byKey.get(key) || {};
    counts(key, shown, v);
    same(key, 'debtors', shown.debtors, v.debtors, 'int');
    same(key, 'recovery_per_debtor', shown.recovery_per_debtor, v.recovery_per_debtor, 0.005);
  }
  for (const f of report.funnel) {
    const key = `funnel|${f.strategy}|${f.tier}`;
    const shown = byKey.get(key) || {};
    for (const k of ['attempts', 'delivered', 'contacts', 'right_party_contacts', 'promises', 'promises_kept', 'payments'])
      same(key, k, shown[k], f[k], 'int');
  }
  for (const h of report.hours) {
    h.attempts.forEach((n, hour) => {
      if (!n) return;
      const key = `hours|${h.channel}|${hour}`;
      const shown = byKey.get(key) || {};
      same(key, 'attempts', shown.attempts, n, 'int');
      same(key, 'contact_rate', shown.contact_rate, h.contact_rate[hour], 'pct');
    });
  }
  for (const c of report.comparisons) {
    for (const m of c.metrics) {
      const key = `cmp|${c.strategy}|${c.challenger}|${m.metric}`;
      const shown = byKey.get(key) || {};
      const money = m.metric === 'recovery_per_debtor';
      for (const f of ['champion', 'challenger', 'difference', 'lo', 'hi'])
        same(key, f, shown[f], m[f], money ? 0.005 : 'pct');
      same(key, 'debtors_champion', shown.debtors_champion, m.debtors_champion, 'int');
      same(key, 'debtors_challenger', shown.debtors_challenger, m.debtors_challenger, 'int');
      compared++;
      if (shown.verdict !== m.verdict) fail(`${key}: verdict '${shown.verdict}', JSON '${m.verdict}'`);
    }
  }
  check(compared > 200, `${compared} figures on the page compared with the JSON`);

  // accessibility, when axe-core is installed next to playwright-core
  let axePath = null;
  try { axePath = require.resolve('axe-core/axe.min.js'); } catch { /* not installed */ }
  if (axePath) {
    await page.addScriptTag({ content: readFileSync(axePath, 'utf8') });
    const res = await page.evaluate(async () => await window.axe.run());
    const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    check(bad.length === 0, `axe: no serious or critical violation (${bad.map((v) => `${v.id}: ${v.help}`).join('; ') || 'none'}; others: ${res.violations.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`).join(', ') || 'none'})`);
  } else {
    console.log('note: axe-core is not installed: accessibility rules not checked');
  }
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
