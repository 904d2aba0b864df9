// Browser test of a parent's dashboard (province over two districts; real dk-aggregator processes
// filled by real clients, tests/browser/dkserve_province.py): one district is stopped and stale.
// Checks the "Đơn vị cấp dưới" panel (freshness in Vietnamese, the red "Số liệu cũ" badge, the
// failures and error), that the communes under the stale district are marked as old (and the
// others are not), then starts the district again, clicks "Lấy số liệu ngay" and sees the panel
// turn fresh without a reload. Screenshot of the stale state: $DK_BUILD/province.png (and
// province-fresh.png after the pull).
import path from "node:path";
import { run } from "./harness.mjs";

await run("dkserve_province.py", async ({ info, nextLine, base, api, page, check, build, server }) => {
  await page.goto(base + "/#period=2023", { waitUntil: "load", timeout: 60000 });
  await page.waitForSelector('#children tr[data-child="cujut"]', { timeout: 60000 });
  await page.evaluate(() => { window.__noReload = 42; });

  // ---- the panel: one row per child, the stale one with the red badge, failures and error
  const ch = await api("/api/v1/children");
  check(await page.isVisible("#children-panel"), "the 'Đơn vị cấp dưới' panel is hidden");
  check(await page.locator("#children tbody tr").count() === ch.children.length,
    "panel rows != children of the API");
  const panelTitle = await page.textContent("#children-panel h2");
  check(panelTitle === "Đơn vị cấp dưới", `panel title '${panelTitle}'`);
  const stale = page.locator('#children tr[data-child="cujut"]');
  check(await stale.getAttribute("data-stale") === "true", "Cư Jút not marked stale in the panel");
  const badge = stale.locator(".badge");
  check(await badge.textContent() === "Số liệu cũ", `Cư Jút badge '${await badge.textContent()}'`);
  // One task in the page: the panel is rebuilt on every refresh, and a handle resolved a moment
  // earlier may be detached by then (a detached element has no computed style).
  const bg = await page.evaluate(() =>
    getComputedStyle(document.querySelector('#children tr[data-child="cujut"] .badge')).backgroundColor);
  check(bg === "rgb(163, 22, 26)", `the stale badge is not red: ${bg}`);
  const updated = await stale.locator('[data-role="updated"]').textContent();
  check(/^Cập nhật lúc \d\d:\d\d, \d+ (giây|phút) trước$/.test(updated), `Cư Jút freshness text '${updated}'`);
  const failuresText = await stale.locator('[data-role="failures"]').textContent();
  check(/^Mất kết nối \d+ lần — lỗi: .+/.test(failuresText), `Cư Jút failures text '${failuresText}'`);
  check(await stale.textContent().then((t) => t.includes("Huyện Cư Jút")), "Cư Jút's name missing");
  const fresh = page.locator('#children tr[data-child="dakmil"]');
  check(await fresh.getAttribute("data-stale") === "false", "Đắk Mil marked stale");
  check(await fresh.locator(".badge").textContent() === "Đã cập nhật", "Đắk Mil badge");
  check(await page.isVisible("#stale-warning"), "no warning that the totals include old figures");
  check((await page.textContent("#stale-warning")).includes("Huyện Cư Jút"), "warning names no district");
  check(await page.locator("#children button[data-pull]").count() === 2, "a 'Lấy số liệu ngay' button per child");

  // ---- communes: the stale district's are marked old, the others are not; figures equal the API
  const report = await api("/api/v1/report?period=2023");
  for (const u of info.stale_units) {
    const tr = page.locator(`#communes tr[data-unit="${u}"]`);
    check(await tr.getAttribute("data-stale") === "true", `commune ${u} not marked stale`);
    check(await tr.locator(".badge").textContent() === "Số liệu cũ", `commune ${u} badge`);
    check(await tr.evaluate((e) => e.classList.contains("stale")), `commune ${u} row not styled as old`);
    const row = report.rows.find((r) => r.unit === u);
    const raw = Number(await page.getAttribute(`#communes td[data-unit="${u}"][data-key="propaganda_sessions"]`, "data-raw"));
    check(row && raw === row.values.propaganda_sessions, `commune ${u} sessions page ${raw} api ${row && row.values.propaganda_sessions}`);
    check(await page.locator(`#checklist tr.stale td:has-text("${info.names[u]}")`).count() === 1,
      `checklist row of ${u} not marked or not named ${info.names[u]} (official name)`);
    check((await tr.textContent()).includes(info.names[u]), `commune row ${u} not named ${info.names[u]}`);
  }
  for (const u of info.fresh_units) {
    const tr = page.locator(`#communes tr[data-unit="${u}"]`);
    check(await tr.getAttribute("data-stale") === "false", `commune ${u} of the live district marked stale`);
    check((await tr.textContent()).includes(info.names[u]), `commune row ${u} not named ${info.names[u]}`);
  }
  const first = await page.getAttribute("#communes tbody tr:first-child", "data-unit");
  check(info.stale_units.includes(Number(first)), `first commune row ${first} is not a stale one`);
  check((await page.textContent("#communes tr.total")).includes("gồm số liệu cũ"), "total row not marked");

  await page.waitForTimeout(600);
  const shot = path.join(build, "province.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot " + shot);

  // ---- the district comes back; the button pulls it now; the page turns fresh without reload
  server.stdin.write(JSON.stringify({ start: "cujut" }) + "\n");
  await nextLine("start cujut");
  await page.click('#children button[data-pull="cujut"]');
  await page.waitForFunction(() => {
    const r = document.querySelector('#children tr[data-child="cujut"]');
    return r && r.getAttribute("data-stale") === "false";
  }, null, { timeout: 60000 }).catch(() => check(false, "Cư Jút did not turn fresh after 'Lấy số liệu ngay'"));
  await page.waitForFunction(() => document.querySelectorAll('#communes tr[data-stale="true"]').length === 0,
    null, { timeout: 30000 }).catch(() => check(false, "communes still marked stale after the pull"));
  check(!(await page.isVisible("#stale-warning")), "stale warning still shown");
  check(await page.evaluate(() => window.__noReload) === 42, "the page was reloaded");
  await page.waitForTimeout(1800);
  await page.screenshot({ path: path.join(build, "province-fresh.png"), fullPage: true });
});
