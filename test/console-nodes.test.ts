import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../src/store/test-support.ts';
import {
  ADMIN_TOKEN,
  buildConsole,
  consoleSteps,
  launchBrowser,
  shot,
  signIn,
  watchConsole,
} from './console-support.ts';
import { startNode } from './helpers/cluster.ts';
import type { TestFulcrum } from './helpers/fulcrum.ts';

// The console's Nodes page (C5, issue 14): two nodes sharing a PostgreSQL store (a database of
// this test on the shared server), each row with its name, applied version, last heartbeat and
// status; a node that stops is flagged stale on the other node's console.

const SYNC_MS = 500;

describe('web console: the nodes sharing the store', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  let consoleDir: string;
  let a: TestFulcrum;
  let b: TestFulcrum;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchConsole>;
  const it = consoleSteps('console-nodes', () => page);

  before(async () => {
    [db, consoleDir, browser] = await Promise.all([createTestDatabase(), buildConsole(), launchBrowser()]);
    const more = { adminToken: ADMIN_TOKEN, console: consoleDir };
    a = await startNode('node-a', db.url, SYNC_MS, more);
    b = await startNode('node-b', db.url, SYNC_MS, more);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    watch = watchConsole(page);
    await signIn(page, a.url);
  });
  after(async () => {
    await browser?.close();
    await a?.close();
    await b?.close();
    await db?.drop();
    if (consoleDir) rmSync(consoleDir, { recursive: true, force: true });
  });

  it('the navigation leads to Nodes: every node, its applied version, last seen and status', async () => {
    await a.ok('POST', '/load-balancers?wait=all', { name: 'shop', allowedNetworks: ['10.0.0.0/8'] });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    const rowOf = (name: string) => page.locator(`tr[data-node="${name}"]`);
    for (const name of ['node-a', 'node-b']) {
      await rowOf(name).getByText('live').waitFor();
      await rowOf(name)
        .getByRole('cell', { name: String(a.fulcrum.control.version), exact: true })
        .waitFor();
    }
    assert.match((await rowOf('node-b').locator('td').nth(1).textContent()) ?? '', /just now|\d+ s ago/);
    assert.equal(await page.getByRole('alert').count(), 0, 'no stale node flagged');
    await shot(page, 'console-nodes-live');
  });

  it('a node that stops is flagged stale', async () => {
    await b.stop(0);
    await page
      .locator('tr[data-node="node-b"]')
      .getByText('stale')
      .waitFor({ timeout: 3 * SYNC_MS + 5000 });
    await page.getByRole('alert').filter({ hasText: 'Node node-b is stale' }).waitFor();
    await page.locator('tr[data-node="node-a"]').getByText('live').waitFor();
    await shot(page, 'console-nodes-stale');
    assert.deepEqual(watch.errors, []);
  });
});
