import { alarmsMarkdown } from '../../lambdas/core/alarms';
import { catalogMarkdown, tokenScopes, tokenScopesMarkdown } from '../../lambdas/core/catalog';
import { injectionMarkersMarkdown } from '../../lambdas/core/policy';
import { block, cells, README } from '../helpers/readme';

describe('the README', () => {
  it('opens with the two commands', () => {
    expect(README.split('\n').slice(0, 8).join('\n')).toContain(
      'npm ci && npm start     # the local gateway, emulator, approval page\nnpm test ',
    );
  });

  it('documents the catalog as declared in the code', () => {
    expect(cells(block('catalog'))).toEqual(cells(catalogMarkdown()));
  });

  it("documents each HubSpot token's scopes as the catalog derives them, once", () => {
    expect(cells(block('token-scopes'))).toEqual(cells(tokenScopesMarkdown()));
    // The configuration table points to that list instead of naming scopes of its own.
    const row = README.split('\n').find((l) => l.startsWith('| `HUBSPOT_WRITE_TOKEN`'));
    expect(row).toBeDefined();
    expect(row).not.toMatch(/`crm\.|`sales-/);
    // The AWS credential steps name the same scopes for each token.
    const scopesOn = (prefix: string) => {
      const start = README.indexOf(`\n- ${prefix}`);
      expect(start).toBeGreaterThan(0);
      const item = README.slice(start + 1).split(/\n(?! {2})/)[0] ?? '';
      return [...item.matchAll(/`([\w.-]+)`/g)].map((m) => m[1]).sort();
    };
    expect(scopesOn('read token:')).toEqual([...tokenScopes().read].sort());
    expect(scopesOn('write token (for approved notes):')).toEqual([...tokenScopes().write].sort());
  });

  it('documents the alarm rules as declared in the code', () => {
    expect(cells(block('alarms'))).toEqual(cells(alarmsMarkdown()));
  });

  it('documents the injection markers the policy applies', () => {
    expect(cells(block('markers'))).toEqual(cells(injectionMarkersMarkdown()));
  });
});
