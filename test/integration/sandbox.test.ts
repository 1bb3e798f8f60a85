/** `npm start` must keep working for a new user: run the sandbox briefly and read what it prints. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';

const run = promisify(execFile);

describe('npm start (sandbox)', () => {
  it('bakes the demo fleet for two nights, settles every image good and exits 0', async () => {
    // Act
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/sandbox.ts', '--nights', '2', '--fleet', '2'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
      timeout: 120_000,
    });

    // Assess: 2 web + db + stopped batch are baked each night; the mis-tagged one is reported, not baked
    expect(stdout).toMatch(/slot 2026-11-26: 3 bake requests/);
    expect(stdout).toMatch(/PolicyInvalid i-[0-9a-f]+ \(typo\): ami-lifecycle:reboot='yes please'/);
    expect(stdout).toMatch(/duplicate BakeRequested for i-[0-9a-f]+: already-baked/);
    expect(stdout).toMatch(/reconcile settled 3 of 3 pending/);
    const rows = stdout.split('\n').filter((l) => /^ {3}i-[0-9a-f]+ /.test(l));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/ 2 +2026-11-26:good 2026-11-27:good$/);
    expect(stdout).toMatch(/"BakeRequested":6,"PolicyInvalid":2,"ImageBaked":6/);
  }, 150_000);
});
