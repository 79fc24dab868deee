/**
 * `npm run bench` (second part): the Lambda bundles as `cdk synth` builds them. For each, the
 * size (bytes and gzip) and the cold module-load time (the minimum over 7 fresh Node
 * processes), and beside the HubSpot-call bundle a naive bundle that imports all of
 * `@hubspot/api-client`, with the ratio. Targets: at most 1 MB and 150 ms per bundle; the
 * HubSpot-call bundle loads at least 2.5x faster than the naive one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
const RUNS = 7;

/** What every bundle gets: a region and dummy credentials, so SDK clients can be built. */
const BASE_ENV = {
  ...process.env,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1',
  NODE_NO_WARNINGS: '1',
};

/**
 * A function's configuration as the template sets it, so its module scope (which parses its
 * environment) loads: literal values as they are, references (to tables, secrets, functions)
 * as placeholder ARNs.
 */
function envOf(variables: Record<string, unknown> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...BASE_ENV };
  for (const [key, value] of Object.entries(variables ?? {})) {
    if (typeof value === 'string' && value !== '') env[key] = value;
    else env[key] = UNSET[key] ?? `arn:aws:bench:eu-west-1:123456789012:${key.toLowerCase()}`;
  }
  return env;
}

/** Slack settings the default (dev) context leaves empty, as a configured deployment has them. */
const UNSET: Record<string, string> = {
  SLACK_CHANNEL_ID: 'C0123456789',
  SLACK_TEAM_ID: 'T0123456789',
  SLACK_APPROVER_IDS: 'U0123456789',
};

function loadMs(file: string, env: NodeJS.ProcessEnv): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const run = spawnSync(
      process.execPath,
      [
        '-e',
        `const t=process.hrtime.bigint();require(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`,
      ],
      { env, encoding: 'utf8' },
    );
    if (run.status !== 0) {
      const lastLine = run.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('Error'))
        .pop();
      throw new Error(`loading ${file} failed: ${lastLine ?? run.stderr.slice(-500)}`);
    }
    times.push(Number(run.stdout.trim()));
  }
  return Math.min(...times);
}

interface Figure {
  name: string;
  bytes: number;
  gzip: number;
  ms: number;
}

function measure(name: string, file: string, env: NodeJS.ProcessEnv = BASE_ENV): Figure {
  const code = readFileSync(file);
  return {
    name,
    bytes: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    ms: loadMs(file, env),
  };
}

function main(): void {
  const out = mkdtempSync(path.join(os.tmpdir(), 'airlock-synth-'));
  try {
    const started = Date.now();
    const synth = spawnSync('npx', ['cdk', 'synth', '--quiet', '-o', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
    });
    if (synth.status !== 0) throw new Error(`cdk synth failed:\n${synth.stderr}`);
    const synthSeconds = (Date.now() - started) / 1000;

    const figures: Figure[] = [];
    let callEnv: NodeJS.ProcessEnv = BASE_ENV;
    for (const name of readdirSync(out).filter((f) => f.endsWith('.template.json'))) {
      const template = JSON.parse(readFileSync(path.join(out, name), 'utf8')) as {
        Resources: Record<
          string,
          {
            Type: string;
            Metadata?: Record<string, string>;
            Properties?: { Environment?: { Variables?: Record<string, unknown> } };
          }
        >;
      };
      for (const [id, resource] of Object.entries(template.Resources)) {
        const asset = resource.Metadata?.['aws:asset:path'];
        if (resource.Type !== 'AWS::Lambda::Function' || !asset) continue;
        const file = path.join(out, asset, 'index.js');
        if (!statSync(file, { throwIfNoEntry: false })) continue;
        const env = envOf(resource.Properties?.Environment?.Variables);
        // The naive bundle is the HubSpot-call function's code: it loads with its configuration.
        if (/hubspotcall/i.test(id)) callEnv = env;
        figures.push(measure(id.replace(/[0-9A-F]{8}$/, ''), file, env));
      }
    }

    const naiveFile = path.join(out, 'naive', 'index.js');
    buildSync({
      entryPoints: [path.join(ROOT, 'bench/naive-hubspot-call.ts')],
      bundle: true,
      minify: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      mainFields: ['module', 'main'],
      outfile: naiveFile,
      logLevel: 'error',
    });
    const naive = measure('naive HubSpot-call (all of @hubspot/api-client)', naiveFile, callEnv);

    const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
    console.log(`Lambda bundles as synthesized (cdk synth took ${synthSeconds.toFixed(0)} s)`);
    console.log(
      `node ${process.version}, ${os.cpus().length} cpus; load = require() of the bundle, minimum of ${RUNS} fresh processes`,
    );
    console.log('');
    console.log(
      `${'bundle'.padEnd(48)}${'bytes'.padStart(10)}${'gzip'.padStart(10)}${'load ms'.padStart(10)}  target (1 MB, 150 ms)`,
    );
    for (const f of [...figures, naive]) {
      const ok = f.bytes <= 1024 * 1024 && f.ms <= 150;
      console.log(
        `${f.name.slice(0, 47).padEnd(48)}${kb(f.bytes).padStart(10)}${kb(f.gzip).padStart(10)}${f.ms.toFixed(1).padStart(10)}  ${f === naive ? '(reference)' : ok ? 'PASS' : 'MISS'}`,
      );
    }
    const call = figures.find((f) => /hubspotcall/i.test(f.name.replace(/[^a-z]/gi, '')));
    if (call) {
      const ratio = naive.ms / call.ms;
      console.log('');
      console.log(
        `naive / HubSpot-call load time: ${ratio.toFixed(2)}x (target at least 2.5x): ${ratio >= 2.5 ? 'PASS' : 'MISS'}; size ${(naive.bytes / call.bytes).toFixed(1)}x`,
      );
    } else {
      console.log('no HubSpot-call function found in the template');
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

main();
