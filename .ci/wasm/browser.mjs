// Runs a Go test binary built for js/wasm in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) and exits with its status.
//
//   node browser.mjs TEST.wasm [test flags...]
//
// The page loads Go's wasm_exec.js and the binary from a local HTTP server;
// the binary's standard output and error arrive through console messages.
// memfs.js gives it the temporary files Go's testing package needs.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const [wasmPath, ...args] = process.argv.slice(2);
const goroot = execFileSync('go', ['env', 'GOROOT']).toString().trim();
const files = {
  '/memfs.js': ['text/javascript', readFileSync(new URL('memfs.js', import.meta.url))],
  '/wasm_exec.js': ['text/javascript', readFileSync(join(goroot, 'lib/wasm/wasm_exec.js'))],
  '/test.wasm': ['application/wasm', readFileSync(wasmPath)],
  '/': ['text/html', `<!doctype html><link rel="icon" href="data:,"><script src="memfs.js"></script><script src="wasm_exec.js"></script><script>
    window.runGo = async (args) => {
      const go = new Go();
      go.argv = ['test.wasm', ...args];
      let code = -1;
      go.exit = (c) => { code = c; };
      const { instance } = await WebAssembly.instantiateStreaming(fetch('test.wasm'), go.importObject);
      await go.run(instance);
      return code;
    };
  </script>`],
};
const server = createServer((req, res) => {
  const f = files[req.url];
  if (!f) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': f[0] });
  res.end(f[1]);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const profile = mkdtempSync(join(tmpdir(), 'arbor-chromium-'));
let status = 1;
// A new, empty profile folder (--user-data-dir) for each run.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  // wasm_exec.js writes the binary's output line by line with console.log.
  page.on('console', (msg) => console.log(msg.text()));
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const version = await page.evaluate(() => navigator.userAgent);
  console.log(`${version}: running ${wasmPath} ${args.join(' ')}`);
  status = await page.evaluate((a) => window.runGo(a), args);
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(status);
