/**
 * `json.dumps` as Python's standard library writes it with default arguments: `", "` and `": "`
 * separators, `ensure_ascii=True` (every character outside printable ASCII as a lowercase `\uXXXX`
 * escape), keys in insertion order.
 *
 * MLflow stores chat templates, response formats and model configs as such strings in tags.
 * Readers only `json.loads` them, so compact JSON would interoperate; writing the same bytes as
 * MLflow's own SDK means a prompt registered here is indistinguishable from one registered there
 * (same tag values, same content hash, same diff in the UI), and the variables MLflow finds in a
 * chat template (its regex runs over this very string) are the variables we find.
 */

/** A number Python holds as a float: integral values print as `1.0`, as Python's `repr` does. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJsonValue =
  | string
  | number
  | boolean
  | null
  | PyFloat
  | readonly PyJsonValue[]
  | { readonly [key: string]: PyJsonValue };

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

// Python's ESCAPE_ASCII: a quote, a backslash, or anything outside ' '..'~'.
const NEEDS_ESCAPE = /["\\]|[^ -~]/g;

export function pythonJsonString(text: string): string {
  const body = text.replace(
    NEEDS_ESCAPE,
    (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `"${body}"`;
}

/** Python's `float.__repr__`: shortest round-trip digits, exponent outside [1e-4, 1e16). */
function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) {
    throw new RangeError(`cannot serialise ${value} as JSON`);
  }
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e16 || magnitude < 1e-4) {
    // JS gives e.g. "1e-7" / "1.5e+16"; Python pads the exponent to two digits.
    const [mantissa = '', exponent = ''] = value.toExponential().split('e');
    const sign = exponent.startsWith('-') ? '-' : '+';
    const digits = exponent.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  const text = String(value);
  return Number.isInteger(value) ? `${text}.0` : text;
}

function pythonNumberRepr(value: number): string {
  if (Number.isInteger(value) && Number.isSafeInteger(value)) return String(value);
  return pythonFloatRepr(value);
}

export function pythonJsonDumps(value: PyJsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return pythonJsonString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pythonNumberRepr(value);
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (Array.isArray(value)) {
    return `[${(value as readonly PyJsonValue[]).map(pythonJsonDumps).join(', ')}]`;
  }
  const entries = Object.entries(value as { readonly [key: string]: PyJsonValue });
  return `{${entries.map(([k, v]) => `${pythonJsonString(k)}: ${pythonJsonDumps(v)}`).join(', ')}}`;
}
