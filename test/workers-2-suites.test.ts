/**
 * The end-to-end suites of algorithms (explain compares every algorithm's prediction with
 * real requests), persistence, slow start, drains, health and live changes, run again with
 * 2 data-plane worker threads (issue 13 point 1): startTestFulcrum reads FULCRUM_TEST_WORKERS
 * when each test starts. The same files also run on their own with one thread.
 */
process.env.FULCRUM_TEST_WORKERS = '2';
await import('./explain.test.ts');
await import('./persistence-cookie.test.ts');
await import('./persistence-app-cookie.test.ts');
await import('./slow-start-e2e.test.ts');
await import('./drain-e2e.test.ts');
await import('./health-e2e.test.ts');
await import('./http-live.test.ts');
