// selfservice-browser.js - the self-service page in headless Chromium
// (driven by playwright-core), for tests/integration/selfservice-browser.sh.
// Reads its inputs from the JSON file named by argv[2]; prints one
// "ok: ..." or "FAIL: ..." line per check; exits 1 when a check failed.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
let failures = 0;
const ok = (cond, what, detail) => {
  if (cond) console.log('ok: ' + what);
  else {
    failures++;
    console.log('FAIL: ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
  }
};
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

async function shot(page, name) {
  const file = path.join(cfg.shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// axe-core in the page: no serious or critical violation
async function axe(page, what) {
  await page.addScriptTag({ content: axeSource });
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const bad = res.filter(v => v.impact === 'serious' || v.impact === 'critical');
  ok(bad.length === 0, 'axe-core: no serious or critical violation on ' + what, res);
}

async function text(page) {
  return page.evaluate(() => document.body.innerText);
}

// Submit the form holding `button` and return the response of the navigation.
async function submit(page, buttonName) {
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: buttonName }).click(),
  ]);
  return resp;
}

(async () => {
  const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'] });
  try {
    // --- the link from the e-mail, on a phone, in Spanish, CSP enforced ---
    const es = await browser.newContext({ locale: 'es-ES', viewport: PHONE });
    const pa = await es.newPage();
    const csp = [];
    pa.on('console', m => { if (/Content Security Policy|Refused/.test(m.text())) csp.push(m.text()); });
    let resp = await pa.goto(cfg.mailLink);
    ok(resp.status() === 200, 'the e-mail\'s link opens the page (200)', resp.status());
    let t = await text(pa);
    ok((await pa.textContent('h1')) === 'Hola, María José Ruiz', 'es: the greeting', await pa.textContent('h1'));
    ok(/992,88\s€/.test(t), 'es: the amount as 992,88 €', t.slice(0, 400));
    ok(t.includes('Días de retraso') && t.includes('40'), 'es: 40 days past due');
    ok(t.includes('m•••@example.com') && !t.includes('maria.ruiz@example.com'), 'es: the e-mail masked');
    ok(t.includes('••• ••• 649') && !t.includes('616909649'), 'es: the phone masked');
    ok(t.includes('Comprometerse a pagar en una fecha') && t.includes('Pagar a plazos'),
       'es: mid offers a promise and a plan');
    const bg = await pa.$eval('button[type=submit]', b => getComputedStyle(b).backgroundColor);
    ok(bg === 'rgb(11, 79, 138)', 'the inline stylesheet applies under the CSP', bg);
    ok(csp.length === 0, 'nothing refused by the Content-Security-Policy', csp);
    const sw = await pa.evaluate(() => document.documentElement.scrollWidth);
    ok(sw <= PHONE.width, 'no horizontal scrolling at 390 px', sw);
    await shot(pa, 'es-390');
    await pa.keyboard.press('Tab');
    ok((await pa.evaluate(() => document.activeElement.textContent)) === 'Saltar al contenido principal',
       'the first Tab reaches the skip link');

    // a second tab with the same form, to replay it after the promise
    const pb = await es.newPage();
    await pb.goto(cfg.mailLink);

    // the promise
    await pa.fill('#promise-date', cfg.promiseDate);
    resp = await submit(pa, 'Confirmar el compromiso de pago');
    t = await text(pa);
    ok(resp.status() === 200 && (await pa.textContent('h1')) === 'Gracias', 'POST promise: the confirmation', resp.status());
    ok(/Se ha comprometido a pagar 992,88\s€/.test(t), 'es: it says what was promised', t);
    ok(/No le contactaremos antes del \d+ de [a-z]+ de \d{4}\./.test(t), 'es: "we will not contact you before <date>"', t);
    await shot(pa, 'es-promise-done-390');

    // replayed after a one-shot action: the other tab's form, sent again
    await pb.fill('#promise-date', cfg.promiseDate);
    resp = await submit(pb, 'Confirmar el compromiso de pago');
    ok(resp.status() === 409, 'the same form from another tab: 409', resp.status());
    ok((await pb.textContent('h1')) === 'Este enlace ya se ha utilizado', 'es: "this link has already been used"');
    ok((await text(pb)).includes('No se ha cambiado nada'), 'es: "nothing was changed"');

    // the page now says what the link did, and axe has nothing serious on it
    const esBypass = await browser.newContext({ locale: 'es-ES', viewport: PHONE, bypassCSP: true });
    const pc = await esBypass.newPage();
    await pc.goto(cfg.mailLink);
    ok((await text(pc)).includes('Con este enlace se comprometió a pagar'), 'es: the page remembers the promise');
    await axe(pc, 'the Spanish page (390 px)');
    const esDesk = await browser.newContext({ locale: 'es-ES', viewport: DESKTOP, bypassCSP: true });
    const pd = await esDesk.newPage();
    await pd.goto(cfg.planLink);
    const mw = await pd.$eval('main', m => m.getBoundingClientRect().width);
    ok(mw <= 700, 'desktop: the text column stays readable (<= 700 px)', mw);
    await shot(pd, 'es-desktop');
    await axe(pd, 'the Spanish page (desktop)');

    // a payment plan through the form
    await pd.selectOption('#plan-n', '3');
    await pd.fill('#plan-first', cfg.planFirst);
    resp = await submit(pd, 'Acordar el plan');
    t = await text(pd);
    const rows = await pd.$$eval('tbody tr', r => r.map(x => x.innerText));
    ok(resp.status() === 200 && rows.length === 3, 'POST plan: a table of three instalments', rows);
    ok(rows.every(r => /200,00\s€/.test(r)), 'es: each of 200,00 €', rows);
    await axe(pd, 'the plan\'s confirmation');

    // --- English: a phone and a desktop, the preferences form ---
    const en = await browser.newContext({ locale: 'en-GB', viewport: PHONE, bypassCSP: true });
    const pe = await en.newPage();
    resp = await pe.goto(cfg.prefsLink);
    t = await text(pe);
    ok((await pe.textContent('h1')) === 'Hello, Grace Evans', 'en: the greeting');
    ok(t.includes('£5,743.47') && t.includes('Days overdue'), 'en: £5,743.47 and days overdue', t.slice(0, 400));
    ok(t.includes('Pay in instalments') && !t.includes('Move your due date'), 'en: late offers a plan, no due date move');
    await shot(pe, 'en-390');
    await axe(pe, 'the English page (390 px)');
    const enDesk = await browser.newContext({ locale: 'en-GB', viewport: DESKTOP });
    const pf = await enDesk.newPage();
    await pf.goto(cfg.prefsLink);
    await shot(pf, 'en-desktop');
    // "no calls before 18:00 on weekdays"
    await pe.selectOption('#f-who', 'call');
    await pe.selectOption('#f-days', 'weekdays');
    await pe.selectOption('#f-from', '0');
    await pe.selectOption('#f-to', '18');
    resp = await submit(pe, 'Save my preferences');
    t = await text(pe);
    ok(resp.status() === 200 && t.includes('We will not call you before 18:00 on weekdays.'),
       'POST preferences: "We will not call you before 18:00 on weekdays."', t);
    await shot(pe, 'en-prefs-done-390');
    await axe(pe, 'the preferences\' confirmation');

    // --- links that are not valid ---
    resp = await pc.goto(cfg.tampered);
    ok(resp.status() === 404 && (await pc.textContent('h1')) === 'Este enlace no es válido',
       'a tampered link: 404, "Este enlace no es válido"', resp.status());
    await shot(pc, 'es-invalid-390');
    await axe(pc, 'the refusal page');
    resp = await pc.goto(cfg.expired);
    ok(resp.status() === 410 && (await pc.textContent('h1')) === 'Este enlace ha caducado',
       'an expired link: 410, "Este enlace ha caducado"', resp.status());
    resp = await pe.goto(cfg.tampered);
    ok((await pe.textContent('h1')) === 'This link is not valid', 'the same in English for an English browser');
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
})().catch(e => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
