import fc from 'fast-check';
import { INJECTION_MARKERS } from '../../../lambdas/core/policy';
import { type JV, nested, Obj, padToBytes, Raw, render, Spelled, wide } from './json-text';
import { type Spelling, secretShapes, spelling } from './secrets';
import { anyCategoryChar, codePoints, hiddenChar, hiddenIn, unicodeString } from './unicode';

/**
 * Bodies of `POST /v1/actions`, each with what the gateway must make of it. The oracle is the
 * README's contract, on the conservative side: `invalid` is set only where the contract leaves
 * no doubt that the body is refused (4xx) before anything reaches HubSpot; where it is unsure
 * (an email address zod may or may not like, a string long in UTF-16 but short in characters)
 * it stays null and only the other properties apply.
 */
export interface Body {
  text: string;
  /** Why the gateway must refuse this body before HubSpot, or null when it may run. */
  invalid: string | null;
  /** A credential is embedded somewhere in the body (plain or escaped, value or name). */
  secret: boolean;
  /** A credential is embedded in the agent_prompt of a body that parses. */
  promptSecret: boolean;
  /** The action, when the body may run. */
  action: string | null;
  /** A short description for reports. */
  note: string;
}

export const MAX_BODY_BYTES = 64 * 1024;

type Kind = 'query' | 'domain' | 'email' | 'id' | 'limit' | 'note' | 'user' | 'prompt';

interface FieldValue {
  jv: JV;
  /** Not null once parsed. */
  present: boolean;
  bad: string | null;
  secret: boolean;
  note: string;
}

const PARAMS: Record<string, Record<string, Kind>> = {
  search_contact: { email: 'email', name: 'query', company: 'query', limit: 'limit' },
  search_company: { name: 'query', domain: 'domain', limit: 'limit' },
  get_last_email_interaction: { company: 'query', contact_email: 'email' },
  create_note: { contact_id: 'id', company_id: 'id', body: 'note' },
};

const SAMPLES: Record<Exclude<Kind, 'limit'>, readonly string[]> = {
  query: ['Acme', 'Acme Corp', 'Jane', 'Jane Cooper', 'Globex', 'Initech', 'Cooper', 'Umbrella'],
  domain: ['acme.com', 'globex.com', 'initech.com', 'umbrellahealth.com', 'example.org'],
  email: [
    'jane.cooper@acme.com',
    'marcus.webb@acme.com',
    'nancy.davolio@northwindtraders.com',
    'nobody@example.com',
  ],
  id: ['5100000001', '5100000002', '5200000001', '5200000009', '1'],
  note: ['Renewal signed.', 'Called about Q3 pricing.\nFollow up in two weeks.', 'Tab\there.'],
  user: ['u-42', 'U-42', 'ops@acme.com', 'user_7', 'ｕ-42'],
  prompt: [
    'Help me with the CRM.',
    'Find Acme before my call.',
    'Log the renewal.\n\tThanks!',
    'Wer ist der Ansprechpartner bei Acme?',
  ],
};

const MAX: Record<Exclude<Kind, 'limit' | 'id'>, number> = {
  query: 100,
  domain: 253,
  email: 254,
  note: 2000,
  user: 128,
  prompt: 8000,
};

const DOMAIN_RE = /^(?!-)[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/i;
/** Looser than any email check: failing it fails them all. */
const EMAIL_SUPERSET_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Why a string is refused in a field of this kind, by the contract (see {@link Body}). */
export function judge(kind: Kind, s: string): string | null {
  switch (kind) {
    case 'query':
    case 'domain': {
      const t = s.trim();
      if (t.length === 0) return `${kind} empty`;
      if (codePoints(t) > MAX[kind]) return `${kind} over ${MAX[kind]} characters`;
      const hidden = hiddenIn(t, 'line');
      if (hidden) return `${kind} with ${hidden}`;
      // README: every string is NFKC-normalised before the checks ("ᵗ" is a "t", "＊" a "*").
      const n = t.normalize('NFKC');
      if (kind === 'domain' && !DOMAIN_RE.test(n)) return 'domain not a host name';
      if (/[*%?]/.test(n)) return `${kind} with a wildcard`;
      if (codePoints(n.replace(/[\s.@_\-'"]/g, '')) < 2) return `${kind} too short`;
      return null;
    }
    case 'email': {
      // README: "Strings are trimmed" (the code does not trim these two; either is fine here).
      const t = s.trim();
      if (t.length > MAX.email) return `email over ${MAX.email} characters`;
      const hidden = hiddenIn(t, 'line');
      if (hidden) return `email with ${hidden}`;
      const n = t.normalize('NFKC');
      if (!EMAIL_SUPERSET_RE.test(n)) return 'not an email address';
      if (/[*%?]/.test(n)) return 'email with a wildcard';
      return null;
    }
    case 'id':
      return /^[1-9][0-9]{0,17}$/.test(s.trim()) ? null : 'not a HubSpot id';
    case 'note': {
      const t = s.trim();
      if (t.length === 0) return 'note body empty';
      if (codePoints(t) > MAX.note) return `note body over ${MAX.note} characters`;
      const hidden = hiddenIn(t, 'multiline');
      return hidden ? `note body with ${hidden}` : null;
    }
    case 'user': {
      const t = s.trim();
      if (t.length === 0) return 'user_id empty';
      if (codePoints(t) > MAX.user) return `user_id over ${MAX.user} characters`;
      const hidden = hiddenIn(t, 'line');
      return hidden ? `user_id with ${hidden}` : null;
    }
    case 'prompt': {
      if (s.length === 0) return 'agent_prompt empty';
      if (codePoints(s) > MAX.prompt) return `agent_prompt over ${MAX.prompt} characters`;
      const hidden = hiddenIn(s, 'multiline');
      if (hidden) return `agent_prompt with ${hidden}`;
      const marker = INJECTION_MARKERS.find((m) => m.pattern.test(s));
      return marker ? `agent_prompt with the marker ${marker.id}` : null;
    }
    case 'limit':
      return 'limit not a number';
  }
}

/** Strings of exactly `n` characters that are valid for the kind up to their length. */
function ofLength(kind: Kind, n: number): string {
  switch (kind) {
    case 'domain': {
      // Labels of 63 characters (the most a label may have) joined by dots, ending in ".com".
      const labels: string[] = [];
      let left = n - 4;
      while (left > 0) {
        const take = Math.min(63, left);
        labels.push('a'.repeat(take));
        left -= take + 1;
      }
      const d = `${labels.join('.')}.com`;
      return d.length > n ? d.slice(d.length - n).replace(/^[.-]+/, 'b') : d;
    }
    case 'email': {
      const local = 'a'.repeat(Math.min(64, Math.max(1, n - 10)));
      let domain = '';
      let left = n - local.length - 1 - 4;
      const labels: string[] = [];
      while (left > 0) {
        const take = Math.min(63, left);
        labels.push('b'.repeat(take));
        left -= take + 1;
      }
      domain = labels.length > 0 ? `${labels.join('.')}.com` : 'example.com';
      return `${local}@${domain}`.slice(0, Math.max(n, 6));
    }
    case 'id':
      return `1${'0'.repeat(Math.max(0, n - 1))}`;
    case 'prompt':
      return `Find Acme ${'a'.repeat(Math.max(0, n - 10))}`.slice(0, n);
    default:
      return 'a'.repeat(n);
  }
}

/** Lengths at and around each bound of the kind (and at zero). */
function boundaryString(kind: Exclude<Kind, 'limit'>): fc.Arbitrary<{ s: string; note: string }> {
  const max = kind === 'id' ? 18 : MAX[kind];
  return fc
    .tuple(
      fc.constantFrom(0, 1, 2, max - 1, max, max + 1, max + 2),
      fc.constantFrom('ascii', 'astral', 'padded'),
    )
    .map(([n, style]) => {
      const len = Math.max(0, n);
      if (style === 'astral') {
        // Each character two UTF-16 units: at the bound in characters, over it in units.
        const s = kind === 'prompt' || kind === 'note' ? '😀'.repeat(len) : '𝒜'.repeat(len);
        return { s, note: `${kind} of ${len} astral characters` };
      }
      if (style === 'padded') {
        return { s: `  ${ofLength(kind, len)}\t `, note: `${kind} of ${len} in spaces` };
      }
      return { s: ofLength(kind, len), note: `${kind} of ${len} characters` };
    });
}

function insertAt(s: string, at: number, what: string): string {
  const chars = Array.from(s);
  const i = chars.length === 0 ? 0 : at % (chars.length + 1);
  chars.splice(i, 0, what);
  return chars.join('');
}

interface Draft {
  s: string;
  secret: boolean;
  note: string;
}

/** String candidates for a field of the kind. */
function stringDraft(
  kind: Exclude<Kind, 'limit'>,
  secrets: fc.Arbitrary<string>,
): fc.Arbitrary<Draft> {
  const sample = fc.constantFrom(...SAMPLES[kind]);
  const plain = (note: string) => (s: string) => ({ s, secret: false, note });
  return fc.oneof(
    { weight: 12, arbitrary: sample.map(plain(`${kind} sample`)) },
    {
      weight: 3,
      arbitrary: boundaryString(kind).map(({ s, note }) => ({ s, secret: false, note })),
    },
    {
      weight: 2,
      arbitrary: unicodeString(kind === 'prompt' ? 60 : 16).map(plain(`${kind} unicode`)),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(sample, fc.nat(), anyCategoryChar)
        .map(([s, at, c]) => ({ s: insertAt(s, at, c), secret: false, note: `${kind} + char` })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(sample, fc.nat(), hiddenChar)
        .map(([s, at, c]) => ({ s: insertAt(s, at, c), secret: false, note: `${kind} + hidden` })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(sample, secrets, fc.boolean()).map(([s, secret, alone]) => ({
        s: alone ? secret : `${s} ${secret}`,
        secret: true,
        note: `${kind} + credential`,
      })),
    },
    ...(kind === 'prompt'
      ? [
          {
            weight: 1,
            arbitrary: fc
              .constantFrom(...INJECTION_MARKERS.map((m) => m.example))
              .map(plain('prompt with a marker')),
          },
        ]
      : []),
  );
}

const spellingOf: fc.Arbitrary<Spelling> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Spelling>('plain') },
  { weight: 1, arbitrary: spelling },
);

/** A value of the wrong JSON type for a string field (or for `limit`). */
function wrongType(kind: Kind): fc.Arbitrary<FieldValue> {
  const bad = (note: string) => (jv: JV) => ({
    jv,
    present: true,
    bad: `${kind} of the wrong type (${note})`,
    secret: false,
    note,
  });
  return fc.oneof(
    kind === 'limit'
      ? fc.constantFrom('5', '10', 'ten').map(bad('string'))
      : fc.oneof(fc.integer(), fc.double({ noNaN: true })).map(bad('number')),
    fc.boolean().map(bad('boolean')),
    fc.array(fc.constantFrom('Acme', 'a', 'b'), { maxLength: 3 }).map(bad('array')),
    fc.constant(new Obj([['value', 'Acme']])).map(bad('object')),
    deepOrWide.map((raw) => bad(raw.note)(raw)),
  );
}

/** Depths and widths at and around the bounds a JSON walk may have (and far past them). */
const deepOrWide: fc.Arbitrary<Raw> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(2, 15, 16, 17, 63, 64, 65, 100, 1000, 5000, 10_000, 20_000),
      fc.constantFrom<'array' | 'object'>('array', 'object'),
    )
    .map(([d, k]) => nested(k === 'object' ? Math.min(d, 12_000) : d, k)),
  fc
    .tuple(
      fc.constantFrom(255, 256, 257, 1023, 1024, 1025, 8191, 8192, 8193, 20_000),
      fc.constantFrom<'array' | 'object'>('array', 'object'),
    )
    .map(([n, k]) => wide(k === 'object' ? Math.min(n, 5000) : n, k)),
  fc
    .constantFrom(32_767, 32_768, 32_769, 60_000)
    .map((n) => new Raw(JSON.stringify('x'.repeat(n)), `string of ${n}`)),
);

/** A valid value of the kind: a sample, maybe spelled with escapes. */
function cleanValue(kind: Kind): fc.Arbitrary<FieldValue> {
  if (kind === 'limit') return fc.integer({ min: 1, max: 10 }).map((n) => ok(n, `limit ${n}`));
  return fc
    .tuple(fc.constantFrom(...SAMPLES[kind]), spellingOf)
    .map(([s, how]) =>
      ok(
        how === 'plain' ? s : new Spelled(s, how),
        how === 'plain' ? `${kind} sample` : `${kind} sample, ${how}`,
      ),
    );
}

/**
 * A value for a field: `wild` ones are, one time in three, anything the field generators make
 * (boundaries, unicode, hidden characters, credentials, wrong types); else a valid sample.
 */
function fieldValue(
  kind: Kind,
  secrets: fc.Arbitrary<string>,
  required: boolean,
  wild: boolean,
): fc.Arbitrary<FieldValue> {
  if (!wild) return cleanValue(kind);
  return fc.oneof(
    { weight: 2, arbitrary: cleanValue(kind) },
    { weight: 1, arbitrary: anyValue(kind, secrets, required) },
  );
}

function anyValue(
  kind: Kind,
  secrets: fc.Arbitrary<string>,
  required: boolean,
): fc.Arbitrary<FieldValue> {
  const nullValue: FieldValue = {
    jv: null,
    present: false,
    bad: required ? `${kind} null` : null,
    secret: false,
    note: 'null',
  };
  if (kind === 'limit') {
    return fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 10 }).map((n) => ok(n, `limit ${n}`)) },
      {
        weight: 2,
        arbitrary: fc.oneof(fc.constantFrom(0, -1, 11, 100, 1e9, 1.5, 10.000001), fc.integer()).map(
          (n): FieldValue => ({
            jv: n,
            present: true,
            bad: Number.isInteger(n) && n >= 1 && n <= 10 ? null : `limit ${n}`,
            secret: false,
            note: `limit ${n}`,
          }),
        ),
      },
      { weight: 1, arbitrary: wrongType(kind) },
      { weight: 1, arbitrary: fc.constant(nullValue) },
    );
  }
  return fc.oneof(
    {
      weight: 20,
      arbitrary: fc.tuple(stringDraft(kind, secrets), spellingOf).map(
        ([d, how]): FieldValue => ({
          jv: how === 'plain' ? d.s : new Spelled(d.s, how),
          present: true,
          bad: d.secret ? `${kind} carries a credential (${how})` : judge(kind, d.s),
          secret: d.secret,
          note: how === 'plain' ? d.note : `${d.note}, ${how}`,
        }),
      ),
    },
    { weight: 1, arbitrary: wrongType(kind) },
    { weight: 1, arbitrary: fc.constant(nullValue) },
  );
}

function ok(jv: JV, note: string): FieldValue {
  return { jv, present: true, bad: null, secret: false, note };
}

/** A member the action does not have: paging, near-misses, prototype names, credentials. */
interface Member {
  key: string | Spelled;
  jv: JV;
  secret: boolean;
  note: string;
}

function unknownMember(secrets: fc.Arbitrary<string>): fc.Arbitrary<Member> {
  const names = fc.oneof(
    {
      weight: 2,
      arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'),
    },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'phone',
        'after',
        'offset',
        'page',
        'cursor',
        'page_token',
        'all',
        'properties',
        'Limit',
        'name ',
        '',
      ),
    },
    { weight: 2, arbitrary: unicodeString(8) },
  );
  const value: fc.Arbitrary<JV> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<JV>(
        'x',
        1,
        true,
        null,
        [],
        new Obj([]),
        new Obj([['limit', 1000]]),
      ),
    },
    { weight: 1, arbitrary: deepOrWide },
  );
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(names, value).map(([key, jv]) => ({
        key,
        jv,
        secret: false,
        note: `member ${JSON.stringify(key).slice(0, 20)}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(secrets, spellingOf, value).map(([s, how, jv]) => ({
        key: how === 'plain' ? s : new Spelled(s, how),
        jv,
        secret: true,
        note: `a credential as a member name, ${how}`,
      })),
    },
  );
}

interface ActionDraft {
  jv: JV;
  bad: string | null;
  secret: boolean;
  action: string | null;
  note: string;
}

function actionDraft(secrets: fc.Arbitrary<string>, wild: boolean): fc.Arbitrary<ActionDraft> {
  return fc.constantFrom(...Object.keys(PARAMS)).chain((name) => {
    const params = PARAMS[name] ?? {};
    const keys = Object.keys(params);
    const exclusive = name === 'get_last_email_interaction' || name === 'create_note';
    const presence = fc.array(fc.boolean(), { minLength: keys.length, maxLength: keys.length });
    return fc
      .record({
        presence,
        pair: wild
          ? fc.constantFrom('first', 'first', 'second', 'second', 'both', 'none')
          : fc.constantFrom('first', 'second'),
        values: fc.tuple(
          ...keys.map((k) => fieldValue(params[k] ?? 'query', secrets, k === 'body', wild)),
        ),
        extras: !wild
          ? fc.constant([])
          : fc.oneof(
              { weight: 6, arbitrary: fc.constant([]) },
              {
                weight: 1,
                arbitrary: fc.array(unknownMember(secrets), { minLength: 1, maxLength: 3 }),
              },
            ),
        nameMutation: !wild
          ? fc.constant(null)
          : fc.oneof(
              { weight: 14, arbitrary: fc.constant(null) },
              {
                weight: 1,
                arbitrary: fc.oneof(
                  fc.constantFrom<JV>(
                    name.toUpperCase(),
                    ` ${name}`,
                    `${name}\u200b`,
                    'delete_contact',
                    'export_all',
                    '',
                    null,
                    7,
                    [name],
                  ),
                  unicodeString(10),
                  deepOrWide,
                  secrets.map((s) => new Spelled(s, 'escaped-some')),
                ),
              },
            ),
        dropName: !wild
          ? fc.constant(false)
          : fc.oneof(
              { weight: 30, arbitrary: fc.constant(false) },
              { weight: 1, arbitrary: fc.constant(true) },
            ),
      })
      .map(({ presence, pair, values, extras, nameMutation, dropName }): ActionDraft => {
        const members: [string | Spelled, JV][] = [];
        let bad: string | null = null;
        let secret = false;
        const notes: string[] = [name];
        const present: Record<string, boolean> = {};
        if (!dropName) members.push(['action', nameMutation ?? name]);
        else bad = 'action without a name';
        const secrets: string[] = [];
        if (nameMutation !== null) {
          bad ??= 'unknown action name';
          notes.push('renamed');
          if (nameMutation instanceof Spelled) {
            secret = true;
            secrets.push(`the action name is a credential (${nameMutation.spelling})`);
          }
        }
        // A clean action has at least one query parameter.
        if (!wild && !exclusive && !presence.slice(0, -1).some(Boolean)) presence[0] = true;
        keys.forEach((key, i) => {
          let include = presence[i] ?? false;
          if (exclusive && i < 2) include = pair === 'both' || (pair === 'first') === (i === 0);
          if (exclusive && i < 2 && pair === 'none') include = false;
          if (name === 'create_note' && key === 'body') include = true;
          const v = values[i];
          if (!include || !v) return;
          members.push([key, v.jv]);
          present[key] = v.present;
          if (v.bad) bad ??= `${key}: ${v.bad}`;
          if (v.secret) {
            secret = true;
            secrets.push(`${key}: ${v.bad}`);
          }
          notes.push(`${key}=${v.note}`);
        });
        for (const extra of extras) {
          members.push([extra.key, extra.jv]);
          bad ??= 'unknown parameter';
          if (extra.secret) {
            secret = true;
            secrets.push(extra.note);
          }
          notes.push(extra.note);
        }
        const given = (ks: string[]) => ks.filter((k) => present[k]).length;
        if (name === 'search_contact' && given(['email', 'name', 'company']) === 0)
          bad ??= 'no query parameter';
        if (name === 'search_company' && given(['name', 'domain']) === 0)
          bad ??= 'no query parameter';
        if (name === 'get_last_email_interaction' && given(['company', 'contact_email']) !== 1)
          bad ??= 'not exactly one of company, contact_email';
        if (name === 'create_note' && given(['contact_id', 'company_id']) !== 1)
          bad ??= 'not exactly one of contact_id, company_id';
        if (secret) bad = secrets[0] ?? 'the action carries a credential';
        return { jv: new Obj(members), bad, secret, action: name, note: notes.join(' ') };
      });
  });
}

/** A whole request envelope, maybe mutated. */
function envelope(secrets: fc.Arbitrary<string>, wild: boolean): fc.Arbitrary<Body> {
  const rare = <T>(none: T, some: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T> =>
    wild
      ? fc.oneof({ weight: odds, arbitrary: fc.constant(none) }, { weight: 1, arbitrary: some })
      : fc.constant(none);
  return fc
    .record({
      user: fieldValue('user', secrets, true, wild),
      prompt: fieldValue('prompt', secrets, true, wild),
      action: rare<ActionDraft | null>(
        null,
        fc.oneof(fc.constantFrom<JV>(null, 'search_company', 1, [], new Obj([])), deepOrWide).map(
          (jv): ActionDraft => ({
            jv,
            bad: 'action not an action object',
            secret: false,
            action: null,
            note: 'action replaced',
          }),
        ),
        12,
      ),
      draft: actionDraft(secrets, wild),
      drop: rare<string | null>(null, fc.constantFrom('user_id', 'agent_prompt', 'action'), 25),
      extra: rare<Member | null>(null, unknownMember(secrets), 20),
      shadow: rare<[string, string] | null>(
        null,
        fc.tuple(fc.constantFrom('user_id', 'agent_prompt'), secrets),
        25,
      ),
      order: fc.constantFrom('uaa', 'aua', 'aau'),
    })
    .map(({ user, prompt, action: replaced, draft, drop, extra, shadow, order }): Body => {
      const action = replaced ?? draft;
      const named: Record<string, [string | Spelled, JV]> = {
        user_id: ['user_id', user.jv],
        agent_prompt: ['agent_prompt', prompt.jv],
        action: ['action', action.jv],
      };
      const sequence =
        order === 'uaa'
          ? ['user_id', 'agent_prompt', 'action']
          : order === 'aua'
            ? ['agent_prompt', 'user_id', 'action']
            : ['action', 'agent_prompt', 'user_id'];
      const members: [string | Spelled, JV][] = [];
      const shadowed = shadow !== null && shadow[0] !== drop;
      for (const k of sequence) {
        if (k === drop) continue;
        // A credential under a member that appears again later: JSON.parse keeps the later one,
        // but the request still carried the credential.
        if (shadow && shadow[0] === k) members.push([k, shadow[1]]);
        const m = named[k];
        if (m) members.push(m);
      }
      if (extra) members.push([extra.key, extra.jv]);
      let bad =
        (drop ? `no ${drop}` : null) ??
        (user.bad ? `user_id: ${user.bad}` : null) ??
        (prompt.bad ? `agent_prompt: ${prompt.bad}` : null) ??
        action.bad ??
        (extra ? 'unknown envelope member' : null);
      const secrets = [
        user.secret && drop !== 'user_id' ? `user_id: ${user.bad}` : null,
        prompt.secret && drop !== 'agent_prompt' ? `agent_prompt: ${prompt.bad}` : null,
        action.secret && drop !== 'action' ? `action.${action.bad}` : null,
        shadowed && shadow ? `${shadow[0]} shadowed by a credential` : null,
        extra?.secret ? `envelope ${extra.note}` : null,
      ].filter((x): x is string => x !== null);
      const secret = secrets.length > 0;
      if (secret) bad = `credential in ${secrets[0]}`;
      const notes = [
        `user_id=${user.note}`,
        `prompt=${prompt.note}`,
        `action=${action.note}`,
        ...(drop ? [`no ${drop}`] : []),
        ...(extra ? [`extra ${extra.note}`] : []),
        ...(shadow && shadowed ? [`${shadow[0]} shadowed by a credential`] : []),
      ];
      return finish({
        text: render(new Obj(members)),
        invalid: bad,
        secret,
        promptSecret: prompt.secret && drop !== 'agent_prompt',
        action: bad ? null : action.action,
        note: notes.join('; '),
      });
    });
}

/** Applies the size bound: more than 64 KB is refused (413) whatever the body says. */
function finish(body: Body): Body {
  if (Buffer.byteLength(body.text) > MAX_BODY_BYTES) {
    return { ...body, invalid: 'over 64 KB', action: null };
  }
  return body;
}

/** Bodies that are not an envelope at all. */
function notAnEnvelope(secrets: fc.Arbitrary<string>): fc.Arbitrary<Body> {
  const body =
    (note: string, secret = false) =>
    (text: string): Body =>
      finish({ text, invalid: `${note}`, secret, promptSecret: false, action: null, note });
  return fc.oneof(
    fc
      .constantFrom('', ' ', 'null', '[]', '{}', '"x"', '0', 'true', '{"a":1,}', "{'a':1}")
      .map(body('not an envelope')),
    unicodeString(40).map(body('unicode garbage')),
    fc.string({ unit: 'binary', maxLength: 200 }).map(body('binary garbage')),
    deepOrWide.map((raw) => body(raw.note)(raw.text)),
    fc
      .tuple(envelope(secrets, true), fc.nat())
      .filter(([e]) => e.text.length > 1)
      .map(([e, at]) => ({
        ...body('truncated JSON', e.secret)(e.text.slice(0, 1 + (at % (e.text.length - 1)))),
      })),
    fc
      .tuple(secrets, spelling)
      .map(([s, how]) =>
        body(
          'a credential in broken JSON',
          true,
        )(`{"agent_prompt": ${render(new Spelled(s, how))}, `),
      ),
  );
}

/** An envelope padded with whitespace to an exact size, at and around 64 KB (and far over). */
function sized(secrets: fc.Arbitrary<string>): fc.Arbitrary<Body> {
  return fc
    .tuple(
      envelope(secrets, false),
      fc.constantFrom(
        MAX_BODY_BYTES - 1,
        MAX_BODY_BYTES,
        MAX_BODY_BYTES + 1,
        MAX_BODY_BYTES + 2,
        100_000,
        400_000,
        1_000_000,
      ),
    )
    .map(([e, bytes]) => {
      const text = padToBytes(e.text, bytes);
      return finish({ ...e, text, note: `${e.note}; padded to ${Buffer.byteLength(text)} bytes` });
    });
}

/** Every kind of body, weighted towards envelopes (most of them valid or nearly so). */
export function actionBody(knownSecrets: readonly string[]): fc.Arbitrary<Body> {
  const secrets = secretShapes(knownSecrets);
  return fc.oneof(
    { weight: 8, arbitrary: envelope(secrets, false) },
    { weight: 10, arbitrary: envelope(secrets, true) },
    { weight: 2, arbitrary: notAnEnvelope(secrets) },
    { weight: 1, arbitrary: sized(secrets) },
    {
      weight: 1,
      arbitrary: envelope(secrets, false).map((e) => ({
        ...e,
        text: `\ufeff${e.text}`,
        // RFC 8259 lets a parser ignore a byte order mark: either answer is right.
        invalid: e.invalid,
        action: e.invalid ? null : e.action,
        note: `${e.note}; with a BOM`,
      })),
    },
  );
}
