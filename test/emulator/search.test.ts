import {
  compareValues,
  containsToken,
  matchesFilter,
  parseSearchRequest,
  runSearch,
  type SearchDoc,
  type SearchFilter,
  SearchValidationError,
} from '../../lambdas/emulator/search';

const docs: SearchDoc[] = [
  {
    id: '10',
    properties: {
      firstname: 'Jane',
      email: 'jane.cooper@acme.com',
      score: '42',
      when: '2026-06-11T16:45:00.000Z',
    },
    associations: { company: ['1'] },
  },
  {
    id: '9',
    properties: {
      firstname: 'Marcus',
      email: 'marcus.webb@acme.com',
      score: '7',
      when: '2026-05-01T00:00:00.000Z',
    },
    associations: { company: ['1'] },
  },
  {
    id: '11',
    properties: { firstname: 'Hank', email: 'hank@globex.com', score: '100', when: null },
    associations: { company: ['2'] },
  },
  { id: '2', properties: { firstname: 'Sam', email: null, score: '', when: '1780000000000' } },
];

function ids(filters: SearchFilter[][], extra: Record<string, unknown> = {}): string[] {
  const request = parseSearchRequest({
    filterGroups: filters.map((f) => ({ filters: f })),
    limit: 200,
    ...extra,
  });
  return runSearch(docs, request).results.map((d) => d.id);
}

const f = (
  propertyName: string,
  operator: SearchFilter['operator'],
  rest: Partial<SearchFilter> = {},
): SearchFilter => ({ propertyName, operator, ...rest });

describe('search engine: filters', () => {
  it('matches EQ case-insensitively on strings', () => {
    expect(ids([[f('email', 'EQ', { value: 'JANE.Cooper@ACME.com' })]])).toEqual(['10']);
  });

  it('treats unset properties as not equal (NEQ) and as absent (HAS_PROPERTY)', () => {
    expect(ids([[f('email', 'NEQ', { value: 'hank@globex.com' })]])).toEqual(['2', '9', '10']);
    expect(ids([[f('email', 'HAS_PROPERTY')]])).toEqual(['9', '10', '11']);
    expect(ids([[f('score', 'NOT_HAS_PROPERTY')]])).toEqual(['2']);
  });

  it('compares numbers numerically, not lexically', () => {
    expect(ids([[f('score', 'GT', { value: '8' })]])).toEqual(['10', '11']);
    expect(ids([[f('score', 'LTE', { value: '42' })]])).toEqual(['9', '10']);
    expect(ids([[f('score', 'BETWEEN', { value: '7', highValue: '42' })]])).toEqual(['9', '10']);
  });

  it('compares ISO dates and epoch milliseconds on one time line', () => {
    const june = String(Date.parse('2026-06-01T00:00:00.000Z'));
    expect(ids([[f('when', 'GTE', { value: june })]])).toEqual(['10']);
    expect(ids([[f('when', 'LT', { value: '2026-06-01' })]])).toEqual(['2', '9']);
    expect(compareValues('2026-06-11T16:45:00.000Z', '1781196300000')).toBe(0);
  });

  it('matches IN only against lower-case values (as HubSpot documents) and NOT_IN the rest', () => {
    expect(ids([[f('firstname', 'IN', { values: ['jane', 'hank'] })]])).toEqual(['10', '11']);
    expect(ids([[f('firstname', 'IN', { values: ['Jane'] })]])).toEqual([]);
    expect(ids([[f('firstname', 'NOT_IN', { values: ['jane', 'hank'] })]])).toEqual(['2', '9']);
    expect(ids([[f('score', 'IN', { values: ['7', '100'] })]])).toEqual(['9', '11']);
  });

  it('matches CONTAINS_TOKEN on whole tokens, with * wildcards', () => {
    expect(containsToken('Umbrella Health', 'health')).toBe(true);
    expect(containsToken('Umbrella Health', 'heal')).toBe(false);
    expect(containsToken('Umbrella Health', 'heal*')).toBe(true);
    expect(containsToken('jane.cooper@acme.com', '*@acme.com')).toBe(true);
    expect(containsToken('jane.cooper@acme.com', 'cooper')).toBe(true);
    expect(containsToken('Jane Cooper', 'jane cooper')).toBe(true);
    expect(containsToken('Jane Cooper', 'jane smith')).toBe(false);
    expect(containsToken('a.b', 'a.b')).toBe(true);
    expect(containsToken('axb', 'a.b')).toBe(false);
    expect(ids([[f('email', 'CONTAINS_TOKEN', { value: '*@acme.com' })]])).toEqual(['9', '10']);
    expect(ids([[f('email', 'NOT_CONTAINS_TOKEN', { value: 'acme' })]])).toEqual(['2', '11']);
  });

  it('resolves hs_object_id and associations.* pseudo-properties', () => {
    expect(ids([[f('hs_object_id', 'EQ', { value: '11' })]])).toEqual(['11']);
    expect(ids([[f('associations.company', 'EQ', { value: '1' })]])).toEqual(['9', '10']);
    expect(ids([[f('associations.company', 'IN', { values: ['2', '3'] })]])).toEqual(['11']);
    expect(ids([[f('associations.contact', 'EQ', { value: '1' })]])).toEqual([]);
  });

  it('ANDs filters inside a group and ORs groups', () => {
    const acme = f('email', 'CONTAINS_TOKEN', { value: 'acme' });
    expect(ids([[acme, f('firstname', 'EQ', { value: 'marcus' })]])).toEqual(['9']);
    expect(
      ids([[f('firstname', 'EQ', { value: 'sam' })], [f('firstname', 'EQ', { value: 'hank' })]]),
    ).toEqual(['2', '11']);
  });

  it('evaluates a single filter against a document', () => {
    const [first] = docs;
    if (!first) throw new Error('fixture');
    expect(matchesFilter(first, f('firstname', 'EQ', { value: 'jane' }))).toBe(true);
  });
});

describe('search engine: sorting and paging', () => {
  it('sorts by id ascending (numerically) by default', () => {
    expect(ids([])).toEqual(['2', '9', '10', '11']);
  });

  it('sorts descending by a date with unset values last', () => {
    const sorts = [{ propertyName: 'when', direction: 'DESCENDING' }];
    expect(ids([], { sorts })).toEqual(['10', '2', '9', '11']);
    expect(ids([], { sorts: ['-when'] })).toEqual(['10', '2', '9', '11']);
    expect(ids([], { sorts: ['when'] })).toEqual(['9', '2', '10', '11']);
  });

  it('pages with an offset cursor and reports the total', () => {
    const page1 = runSearch(docs, parseSearchRequest({ limit: 3 }));
    expect(page1.total).toBe(4);
    expect(page1.results.map((d) => d.id)).toEqual(['2', '9', '10']);
    expect(page1.nextAfter).toBe('3');
    const page2 = runSearch(docs, parseSearchRequest({ limit: 3, after: page1.nextAfter }));
    expect(page2.results.map((d) => d.id)).toEqual(['11']);
    expect(page2.nextAfter).toBeNull();
  });

  it('defaults the limit to 10', () => {
    expect(parseSearchRequest({}).limit).toBe(10);
  });

  it('matches the free-text query by token prefix over the query properties', () => {
    const request = parseSearchRequest({ query: 'mar' });
    expect(
      runSearch(docs, request, { queryProperties: ['firstname'] }).results.map((d) => d.id),
    ).toEqual(['9']);
  });
});

describe('search engine: validation (HubSpot answers 400)', () => {
  const group = (n: number) => ({
    filters: Array.from({ length: n }, () => ({ propertyName: 'email', operator: 'HAS_PROPERTY' })),
  });

  it.each([
    ['limit above 200', { limit: 201 }],
    ['negative limit', { limit: -1 }],
    ['non-numeric after', { after: 'abc' }],
    ['after beyond 10,000 results', { after: 10_000 }],
    ['6 filter groups', { filterGroups: Array.from({ length: 6 }, () => group(1)) }],
    ['7 filters in one group', { filterGroups: [group(7)] }],
    ['19 filters in total', { filterGroups: [group(6), group(6), group(6), group(1)] }],
    [
      'an unknown operator',
      { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'LIKE', value: 'x' }] }] },
    ],
    [
      'EQ without a value',
      { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ' }] }] },
    ],
    [
      'IN without values',
      { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'IN', value: 'a' }] }] },
    ],
    [
      'HAS_PROPERTY with a value',
      {
        filterGroups: [
          { filters: [{ propertyName: 'email', operator: 'HAS_PROPERTY', value: 'a' }] },
        ],
      },
    ],
    [
      'BETWEEN without highValue',
      { filterGroups: [{ filters: [{ propertyName: 's', operator: 'BETWEEN', value: '1' }] }] },
    ],
    ['a bad sort direction', { sorts: [{ propertyName: 'email', direction: 'UP' }] }],
    ['a non-object body', []],
  ])('rejects %s', (_name, body) => {
    expect(() => parseSearchRequest(body)).toThrow(SearchValidationError);
  });

  it('accepts the maximum: 5 groups, 6 filters per group, 18 in total, limit 200', () => {
    const body = { filterGroups: [group(6), group(6), group(6)], limit: 200 };
    expect(parseSearchRequest(body).filterGroups).toHaveLength(3);
    const five = { filterGroups: [group(6), group(6), group(4), group(1), group(1)] };
    expect(parseSearchRequest(five).filterGroups).toHaveLength(5);
  });

  it('rejects filters and sorts on properties the type does not have', () => {
    const isKnownProperty = (name: string) => name === 'email';
    const byFilter = parseSearchRequest({
      filterGroups: [{ filters: [{ propertyName: 'emial', operator: 'EQ', value: 'x' }] }],
    });
    expect(() => runSearch(docs, byFilter, { isKnownProperty })).toThrow(/emial/);
    const bySort = parseSearchRequest({
      sorts: [{ propertyName: 'nope', direction: 'ASCENDING' }],
    });
    expect(() => runSearch(docs, bySort, { isKnownProperty })).toThrow(SearchValidationError);
  });
});
