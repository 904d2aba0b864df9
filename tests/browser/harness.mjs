// Shared by the browser tests: starts a python helper that serves real dk-aggregator processes
// (it prints one JSON line per step), launches Debian's chromium through playwright-core with the
// flags this offline machine needs and a fresh user-data-dir, records console errors and any
// request that leaves the aggregator, and cleans everything up. A test calls run(name, fn):
// fn({ nextLine, base, api, page, check, build }) does the checks; run exits 0 or 1.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require(path.join(here, "node_modules", "playwright-core"));
export const build = process.env.DK_BUILD || path.join(here, "..", "..", "build");

export async function run(script, fn) {
  let server = null, context = null, userDir = null;
  const failures = [];
  const check = (cond, msg) => { if (!cond) { failures.push(msg); console.error("FAIL: " + msg); } };
  try {
    server = spawn("python3", [path.join(here, script)], { stdio: ["pipe", "pipe", "inherit"] });
    const iter = readline.createInterface({ input: server.stdout })[Symbol.asyncIterator]();
    const nextLine = async (what) => {
      let timer;
      const t = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error("timeout: " + what)), 240000); });
      const r = await Promise.race([iter.next(), t]).finally(() => clearTimeout(timer));
      if (r.done) { throw new Error(`${script} ended before ${what}`); }
      return JSON.parse(r.value);
    };
    const info = await nextLine("start");
    const base = `http://127.0.0.1:${info.http}`;
    const api = async (p) => (await fetch(base + p)).json();

    userDir = mkdtempSync(path.join(tmpdir(), "dk-chromium-"));
    context = await chromium.launchPersistentContext(userDir, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic"],
      viewport: { width: 1366, height: 900 },
    });
    const page = context.pages()[0] || await context.newPage();
    const consoleErrors = [], foreign = [];
    page.on("console", (m) => { if (m.type() === "error") { consoleErrors.push(m.text()); } });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    page.on("request", (r) => { if (!r.url().startsWith(base)) { foreign.push(r.url()); } });

    await fn({ info, nextLine, base, api, page, check, build, server });

    check(consoleErrors.length === 0, "console errors: " + consoleErrors.join(" | "));
    check(foreign.length === 0, "requests outside the aggregator: " + foreign.join(" "));
  } catch (e) {
    failures.push(String(e && e.stack || e));
    console.error(e);
  } finally {
    try { if (context) { await context.close(); } } catch (e) { /* closing anyway */ }
    if (server && server.exitCode === null) {
      server.stdin.end();
      await new Promise((res) => {
        const t = setTimeout(() => { server.kill("SIGKILL"); res(); }, 30000);
        server.on("exit", () => { clearTimeout(t); res(); });
      });
    }
    if (userDir) { rmSync(userDir, { recursive: true, force: true }); }
  }
  if (failures.length) {
    console.error(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log("PASS");
  process.exit(0);
}
