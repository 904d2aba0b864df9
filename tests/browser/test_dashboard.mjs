// Browser test of the district dashboard: Debian's chromium driven by playwright-core loads the
// page served by a real dk-aggregator (filled by real clients), checks that the figures shown
// equal the API's, records an event through a client and sees the page change without a reload,
// and saves a screenshot under the build folder ($DK_BUILD/dashboard.png).
import path from "node:path";
import { run } from "./harness.mjs";

function fmtInt(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "."); }

await run("dkserve.py", async ({ nextLine, base, api, page, check, build, server }) => {
  await page.goto(base + "/#period=2023", { waitUntil: "load", timeout: 60000 });
  await page.waitForSelector('#cards .v[data-key="propaganda_sessions"]', { timeout: 20000 });
  await page.evaluate(() => { window.__noReload = 42; });

  // ---- figures shown == figures of the API
  const report = await api("/api/v1/report?period=2023");
  const tot = report.totals.values;
  const cardRaw = async (k) => Number(await page.getAttribute(`#cards .v[data-key="${k}"]`, "data-raw"));
  for (const k of ["propaganda_sessions", "poor_fund_receipts", "trainings", "houses_new"]) {
    check(await cardRaw(k) === tot[k], `card ${k}: page ${await cardRaw(k)} api ${tot[k]}`);
  }
  const ps = await page.textContent('#cards .v[data-key="propaganda_sessions"]');
  check(ps === fmtInt(tot.propaganda_sessions) + " buổi", `card text ${ps}`);
  for (const row of report.rows) {
    for (const k of ["propaganda_sessions", "propaganda_participants", "poor_fund_receipts"]) {
      const sel = `#communes td[data-unit="${row.unit}"][data-key="${k}"]`;
      const raw = Number(await page.getAttribute(sel, "data-raw"));
      check(raw === row.values[k], `commune ${row.unit} ${k}: page ${raw} api ${row.values[k]}`);
    }
    const money = await page.textContent(`#communes td[data-unit="${row.unit}"][data-key="poor_fund_receipts"]`);
    const poor = row.ledger.find((l) => l.fund === 1);
    check(money === poor.receipts_text, `commune ${row.unit} money text '${money}' vs '${poor.receipts_text}'`);
  }
  const poorTotal = report.totals.ledger.find((l) => l.fund === 1);
  for (const k of ["opening", "receipts", "spending", "closing"]) {
    const t = await page.textContent(`#ledger td[data-unit="fund1"][data-key="${k}"]`);
    check(t === poorTotal[k + "_text"], `ledger ${k}: page '${t}' api '${poorTotal[k + "_text"]}'`);
  }
  // the commune that never reported comes first, marked as such
  const firstUnit = await page.getAttribute("#communes tbody tr:first-child", "data-unit");
  check(firstUnit === "24670", `first row is ${firstUnit}, expected the never-reported 24670`);
  const badge = await page.textContent('#communes tr[data-unit="24670"] .badge');
  check(badge === "Chưa báo cáo", `badge of 24670: ${badge}`);
  // checklist and organisers
  const st = await page.getAttribute('#checklist td[data-unit="24664"][data-item="propaganda"]', "data-state");
  check(st === "done", `checklist 24664 propaganda: ${st}`);
  const st2 = await page.getAttribute('#checklist td[data-unit="24670"][data-item="propaganda"]', "data-state");
  check(st2 === "none", `checklist 24670 propaganda: ${st2}`);
  const org0 = Number(await page.getAttribute('#organisers td[data-unit="org0"][data-key="events"]', "data-raw"));
  check(org0 === report.organisers.find((o) => o.organiser === 0).events, `organiser 0 events ${org0}`);
  // Vietnamese text with diacritics, charts drawn, plan progress shown
  const body = await page.textContent("body");
  for (const s of ["Tình hình báo cáo", "Quỹ “Vì người nghèo”", "Ủy ban MTTQ", "Huyện Đắk Mil", "Kế hoạch năm 2023:"]) {
    check(body.includes(s), `page lacks '${s}'`);
  }
  const tgt = report.plan.targets.propaganda_sessions;
  const planText = await page.textContent('#cards [data-target="propaganda_sessions"]');
  const pct = Math.floor(tot.propaganda_sessions * 100 / tgt);
  check(planText === `Kế hoạch năm 2023: ${fmtInt(tgt)} buổi — đạt ${pct}%`, `plan line '${planText}'`);
  check(await page.locator("#chart-sources svg rect").count() > 0, "no fund-by-source chart");
  check(await page.locator("#chart-contents svg rect").count() === 5, "contents chart needs 5 bars");
  check(await page.locator("#chart-months svg rect").count() >= 12, "monthly chart needs 12 months");
  const href = await page.getAttribute("#export-xlsx", "href");
  check(href === "/api/v1/export?period=2023&format=xlsx", `export link ${href}`);

  // ---- record one event through a client; the page follows without a reload
  const before = await cardRaw("propaganda_sessions");
  server.stdin.write(JSON.stringify({ send: 24667, events: 1, first_seq: 121 }) + "\n");
  const sent = await nextLine("send");
  check(sent.stored === 1, `client stored ${sent.stored}`);
  const after = (await api("/api/v1/report?period=2023")).totals.values.propaganda_sessions;
  check(after > before, `event 121 should add sessions (${before} -> ${after})`);
  const t0 = Date.now();
  await page.waitForFunction((v) => {
    const e = document.querySelector('#cards .v[data-key="propaganda_sessions"]');
    return e && Number(e.getAttribute("data-raw")) === v;
  }, after, { timeout: 30000 }).catch(() => check(false, "page did not update (waited 30 s)"));
  console.log(`live update seen after ${Date.now() - t0} ms`);
  check(await page.evaluate(() => window.__noReload) === 42, "the page was reloaded");
  const live = await page.getAttribute("#live", "data-state");
  check(live === "live", `live indicator ${live}`);
  const row = Number(await page.getAttribute('#communes td[data-unit="24667"][data-key="events"]', "data-raw"));
  check(row === 121, `commune 24667 events on the page ${row}`);

  await page.waitForTimeout(1800); // let the flash highlight fade before the picture
  const shot = path.join(build, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot " + shot);
});
