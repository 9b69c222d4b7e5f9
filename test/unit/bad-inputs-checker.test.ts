/**
 * The bad-input corpus's checker (test/support/bad-inputs.ts) can fail: each property it asserts
 * is missed by an outcome made to miss it, and a clean refusal passes.
 */
import { describe, expect, it } from 'vitest';
import {
  type BadInput,
  judge,
  lineCount,
  type Outcome,
  secretMarkers,
  stateChange,
} from '../support/bad-inputs';

const SECRET = 'dapi-CHECKER-0123456789';
const markers = secretMarkers({ token: SECRET, 'basic-auth credentials': `ops:${SECRET}` });
const unchanged = async () => undefined;
const clean: Outcome = {
  refused: true,
  status: 'HTTP 400 INVALID_INPUT',
  message: 'Invalid request body: from: expected a version number',
  output: '{"statusCode":400}',
};
const input = (outcome: Partial<Outcome>, extra: Partial<BadInput> = {}): BadInput => ({
  entry: 'promote',
  name: 'synthetic',
  run: async () => ({ ...clean, ...outcome }),
  ...extra,
});

describe('the bad-input checker', () => {
  it('passes a clear, short refusal that shows nothing it must not', async () => {
    const verdict = await judge(input({}, { says: /version number/ }), markers, unchanged);
    expect(verdict.misses).toEqual([]);
  });

  it.each([
    [
      'an answer that is not a refusal',
      { refused: false, status: 'HTTP 500 INTERNAL' },
      /not a clear refusal/,
    ],
    ['no message', { message: '' }, /no message/],
    ['a message of six lines', { message: 'a\nb\nc\nd\ne\nf' }, /6 lines/],
    [
      'a stack in a JSON log line',
      { output: '{"error":"Error: x\\n    at parse (/app/lib/x.ts:1:2)"}' },
      /a stack trace/,
    ],
    [
      'a stack on its own lines',
      { message: 'boom\n    at async run (node:internal/x:3:4)' },
      /a stack trace/,
    ],
    ['the secret', { output: `token ${SECRET}` }, /shows the token$/],
    ['its base64', { output: Buffer.from(SECRET).toString('base64') }, /token \(base64\)/],
    [
      'basic-auth credentials',
      { output: `Basic ${Buffer.from(`ops:${SECRET}`).toString('base64')}` },
      /basic-auth credentials \(base64\)/,
    ],
  ])('misses %s', async (_label, outcome, miss) => {
    const verdict = await judge(input(outcome), markers, unchanged);
    expect(
      verdict.misses.some((m) => miss.test(m)),
      verdict.misses.join('; '),
    ).toBe(true);
  });

  it('misses a message that does not say what it must, or says what it must not', async () => {
    expect((await judge(input({}, { says: /alias/ }), markers, unchanged)).misses).toEqual([
      'the message does not say /alias/',
    ]);
    expect((await judge(input({}, { notSays: /version/ }), markers, unchanged)).misses).toEqual([
      'the message says /version/, which is wrong',
    ]);
  });

  it('misses a registry change, and a case whose run throws', async () => {
    const changed = await judge(input({}), markers, async () => 'p added');
    expect(changed.misses).toEqual(['the registry changed: p added']);
    const thrown = await judge(
      {
        entry: 'cli',
        name: 'x',
        run: () => Promise.reject(new Error('harness')),
      },
      markers,
      unchanged,
    );
    expect(thrown.misses[0]).toMatch(/could not run: harness/);
  });

  it('counts non-blank lines, and names what changed between two registry states', () => {
    expect(lineCount('a\n\nb\n')).toBe(2);
    const before = { prompts: [{ name: 'p', tags: [] }], versions: [{ name: 'p', version: '1' }] };
    expect(stateChange(before, structuredClone(before))).toBeUndefined();
    expect(
      stateChange(before, {
        prompts: [{ name: 'p', tags: [{ key: 'k', value: 'v' }] }],
        versions: [
          { name: 'p', version: '1' },
          { name: 'p', version: '2' },
        ],
      }),
    ).toBe('p changed, p/2 added');
  });
});
