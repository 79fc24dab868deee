/**
 * Who may call the emulator, and what for: the token table (each token a private app with its
 * scopes; minting and revoking as HubSpot's rotate and "expire now" do), the bearer header, the
 * scope each object type needs, the 401 and 403 answers, and private-app token introspection.
 */

import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { tokenScopes } from '../core/catalog';
import type { CrmObjectType } from './seed';
import {
  bodyTooLarge,
  errorBody,
  HttpError,
  isRecord,
  parseJsonBody,
  validationError,
} from './wire';

export const SCOPES = {
  contactsRead: 'crm.objects.contacts.read',
  contactsWrite: 'crm.objects.contacts.write',
  companiesRead: 'crm.objects.companies.read',
  emailsRead: 'sales-email-read',
} as const;

/**
 * What the gateway's read token holds: the catalog's reads (`tokenScopes()`, the one statement
 * of each token's scopes; the emulator only enforces HubSpot's rules against them).
 */
export const READ_TOKEN_SCOPES: readonly string[] = tokenScopes().read;
/**
 * What the gateway's write token holds: the create (HubSpot has no notes-only scope) and the
 * notes search a retried write makes before it writes.
 */
export const WRITE_TOKEN_SCOPES: readonly string[] = tokenScopes().write;

/** The scope reading each object type needs (notes are read with the contacts scope). */
export const READ_SCOPES: Readonly<Record<CrmObjectType, string>> = {
  contacts: SCOPES.contactsRead,
  companies: SCOPES.companiesRead,
  emails: SCOPES.emailsRead,
  notes: SCOPES.contactsRead,
};

/** The account every emulator token belongs to, as token introspection reports it. */
export const EMULATOR_ACCOUNT = { hubId: 20_240_601, userId: 7_700_001 } as const;
/** Private-app token introspection (HubSpot answers it for any valid token, no scope needed). */
export const TOKEN_INFO_PATH = '/oauth/v2/private-apps/get/access-token-info';

/** The app id of the first token of a table; the next ones count up from it. */
const FIRST_APP_ID = 3_000_001;
/** Reported for a token whose app is unknown (cannot happen for a token of the table). */
const UNKNOWN_APP_ID = 3_000_000;

const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';

export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 6);
}

/** The token of an `Authorization: Bearer …` header, or null when there is none. */
export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const header = headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** The 401 HubSpot answers for a missing, unknown or revoked token. */
export function unauthenticated(): HttpError {
  return new HttpError(401, errorBody(AUTH_MESSAGE, 'INVALID_AUTHENTICATION'));
}

/** The 403 HubSpot answers when the token lacks `scope`. */
export function missingScope(scope: string): HttpError {
  return new HttpError(
    403,
    errorBody(
      "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
      'MISSING_SCOPES',
      {
        errors: [
          {
            message: 'One or more of the following scopes are required.',
            context: { requiredGranularScopes: [scope] },
          },
        ],
        links: { scopes: 'https://developers.hubspot.com/scopes' },
      },
    ),
  );
}

/** The tokens the emulator accepts: token → granted scopes, and the private app it belongs to. */
export class TokenTable {
  private tokens = new Map<string, ReadonlySet<string>>();
  // Each token of a table is its own private app; a minted token shares its original's app.
  private apps = new Map<string, number>();

  constructor(table: Record<string, string[]>) {
    this.set(table);
  }

  /** Replaces the table (revocation / rotation). */
  set(table: Record<string, string[]>): void {
    this.tokens = new Map(Object.entries(table).map(([token, scopes]) => [token, new Set(scopes)]));
    this.apps = new Map([...this.tokens.keys()].map((token, i) => [token, FIRST_APP_ID + i]));
  }

  /** A new token with the scopes and app of `likeToken`. Throws for an unknown token. */
  mint(likeToken: string): string {
    const scopes = this.tokens.get(likeToken);
    if (scopes === undefined) throw new Error('mintToken: the emulator does not know that token');
    const token = `emu-${randomBytes(24).toString('hex')}`;
    this.tokens.set(token, scopes);
    this.apps.set(token, this.apps.get(likeToken) ?? UNKNOWN_APP_ID);
    return token;
  }

  revoke(token: string): void {
    this.tokens.delete(token);
    this.apps.delete(token);
  }

  /** The token's scopes, or undefined when the emulator does not accept it. */
  scopesOf(token: string): ReadonlySet<string> | undefined {
    return this.tokens.get(token);
  }

  has(token: string): boolean {
    return this.tokens.has(token);
  }

  /**
   * `POST /oauth/v2/private-apps/get/access-token-info` with `{"tokenKey": "..."}` (`raw` null:
   * the body was too large). It authenticates by the token in its body, not by a bearer header.
   */
  tokenInfo(raw: string | null): { status: number; body: unknown } {
    if (raw === null) throw bodyTooLarge();
    const body = parseJsonBody(raw);
    const tokenKey = isRecord(body) ? body.tokenKey : undefined;
    if (typeof tokenKey !== 'string' || tokenKey.trim() === '') {
      throw validationError('Invalid input JSON: "tokenKey" must be a non-empty string.');
    }
    const scopes = this.tokens.get(tokenKey);
    if (scopes === undefined) throw unauthenticated();
    return {
      status: 200,
      body: {
        userId: EMULATOR_ACCOUNT.userId,
        hubId: EMULATOR_ACCOUNT.hubId,
        appId: this.apps.get(tokenKey) ?? UNKNOWN_APP_ID,
        scopes: [...scopes],
      },
    };
  }
}
