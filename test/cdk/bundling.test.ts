import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type Synthesized, synthAirlock } from './helpers';

// The one test that runs esbuild (locally, no Docker) the way `cdk synth` does.
let synth: Synthesized;
let outdir: string;
beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'airlock-cdk-'));
  synth = synthAirlock({}, { bundle: true, outdir });
}, 60_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function bundleOf(logicalIdPrefix: string): {
  code: string;
  map: { sources: string[]; sourcesContent?: unknown };
} {
  const entry = Object.entries(synth.json.Resources).find(
    ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(logicalIdPrefix),
  );
  // The code's S3 key is `<asset hash>.zip`; the bundle sits in `<outdir>/asset.<asset hash>`.
  const code = entry?.[1].Properties?.Code as { S3Key?: string } | undefined;
  const hash = code?.S3Key?.replace(/\.zip$/, '');
  if (!hash) throw new Error(`no asset for ${logicalIdPrefix}`);
  const dir = path.join(outdir, `asset.${hash}`);
  expect(existsSync(path.join(dir, 'index.js'))).toBe(true);
  return {
    code: readFileSync(path.join(dir, 'index.js'), 'utf8'),
    map: JSON.parse(readFileSync(path.join(dir, 'index.js.map'), 'utf8')),
  };
}

describe('function bundles (esbuild, offline)', () => {
  it.each([
    ['ValidationFunction', ['client-s3', 'client-lambda']],
    ['HubSpotCallFunction', ['client-secrets-manager']],
  ])(
    'bundles %s minified with a source map, its AWS SDK clients inside, no sources embedded',
    (fn, clients) => {
      const { code, map } = bundleOf(fn);
      // Bundled, not taken from the runtime: the clients' own files are in the bundle.
      for (const client of clients) {
        expect(map.sources.some((s) => s.includes(`node_modules/@aws-sdk/${client}/`))).toBe(true);
      }
      expect(map.sourcesContent).toBeUndefined();
      // Minified: a few very long lines (newlines survive only inside template literals).
      expect(code.length / code.split('\n').length).toBeGreaterThan(5000);
    },
  );

  it('bundles only the CRM modules of @hubspot/api-client into the HubSpot-call function', () => {
    const { map } = bundleOf('HubSpotCallFunction');
    const hubspot = map.sources.filter((s) => s.includes('node_modules/@hubspot/api-client/'));
    // The client ships source maps, so the bundle's map names its TypeScript sources.
    expect(hubspot.some((s) => s.includes('/codegen/crm/'))).toBe(true);
    expect(hubspot.filter((s) => s.includes('/src/discovery/'))).toEqual([]);
    expect(hubspot.filter((s) => /\/codegen\/(?!crm\/)/.test(s))).toEqual([]);
    // The form-data stand-in replaces the real package (and mime-db behind it).
    expect(map.sources.filter((s) => /node_modules\/(form-data|mime-db)\//.test(s))).toEqual([]);
    expect(map.sources.some((s) => s.endsWith('lambdas/aws/shims/form-data.ts'))).toBe(true);
  });

  it('bundles the HubSpot client only into the HubSpot-call and write functions', () => {
    const withHubSpot = Object.entries(synth.json.Resources)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([id]) => id)
      .filter((id) =>
        bundleOf(id).map.sources.some((s) => s.includes('node_modules/@hubspot/api-client/')),
      );
    expect(withHubSpot.map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'ApprovalHubSpotWriteFunction',
      'HubSpotCallFunction',
    ]);
  });

  it('keeps HubSpot code and the secrets client out of the validation function', () => {
    const { map } = bundleOf('ValidationFunction');
    expect(map.sources.filter((s) => s.includes('@hubspot/api-client'))).toEqual([]);
    expect(map.sources.filter((s) => s.includes('client-secrets-manager'))).toEqual([]);
  });
});
