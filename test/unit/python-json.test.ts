import { describe, expect, it } from 'vitest';
import { PyFloat, pythonJsonDumps } from '../../lib/util/python-json';

describe('pythonJsonDumps', () => {
  it("uses Python's separators and key order", () => {
    expect(
      pythonJsonDumps([
        { role: 'system', content: 'x' },
        { b: 1, a: [true, null] },
      ]),
    ).toBe('[{"role": "system", "content": "x"}, {"b": 1, "a": [true, null]}]');
  });

  it('escapes non-ASCII as lowercase \\u escapes, surrogate pairs included (ensure_ascii)', () => {
    expect(pythonJsonDumps('Héllo ✓ 😀')).toBe('"H\\u00e9llo \\u2713 \\ud83d\\ude00"');
  });

  it('escapes control characters, quotes and backslashes like Python', () => {
    expect(pythonJsonDumps('a"b\\c\n\t\r\b\f\u0001\u007f/')).toBe(
      '"a\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u007f/"',
    );
  });

  it("prints floats with Python's repr", () => {
    expect(
      pythonJsonDumps([new PyFloat(1), new PyFloat(0.2), new PyFloat(1e-7), new PyFloat(1.5e16), 1e-5]),
    ).toBe('[1.0, 0.2, 1e-07, 1.5e+16, 1e-05]');
  });

  it('refuses NaN and infinities', () => {
    expect(() => pythonJsonDumps(Number.NaN)).toThrow(RangeError);
  });
});
