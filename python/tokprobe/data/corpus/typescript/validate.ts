// Composable runtime validators that also produce static types.

type Result<T> = { ok: true; value: T } | { ok: false; errors: string[] };

export interface Validator<T> {
  (input: unknown, path?: string): Result<T>;
}

export type Infer<V> = V extends Validator<infer T> ? T : never;

const ok = <T,>(value: T): Result<T> => ({ ok: true, value });
const fail = (path: string, message: string): Result<never> => ({
  ok: false,
  errors: [`${path || '<root>'}: ${message}`],
});

export const string = (opts: { min?: number; max?: number; pattern?: RegExp } = {}): Validator<string> =>
  (input, path = '') => {
    if (typeof input !== 'string') return fail(path, `expected string, got ${typeof input}`);
    if (opts.min !== undefined && input.length < opts.min) return fail(path, `shorter than ${opts.min}`);
    if (opts.max !== undefined && input.length > opts.max) return fail(path, `longer than ${opts.max}`);
    if (opts.pattern && !opts.pattern.test(input)) return fail(path, `does not match ${opts.pattern}`);
    return ok(input);
  };

export const number = (opts: { integer?: boolean; min?: number } = {}): Validator<number> =>
  (input, path = '') => {
    if (typeof input !== 'number' || Number.isNaN(input)) return fail(path, 'expected number');
    if (opts.integer && !Number.isInteger(input)) return fail(path, 'expected integer');
    if (opts.min !== undefined && input < opts.min) return fail(path, `less than ${opts.min}`);
    return ok(input);
  };

export const boolean: Validator<boolean> = (input, path = '') =>
  typeof input === 'boolean' ? ok(input) : fail(path, 'expected boolean');

export function optional<T>(inner: Validator<T>): Validator<T | undefined> {
  return (input, path) => (input === undefined ? ok(undefined) : inner(input, path));
}

export function array<T>(item: Validator<T>): Validator<T[]> {
  return (input, path = '') => {
    if (!Array.isArray(input)) return fail(path, 'expected array');
    const out: T[] = [];
    const errors: string[] = [];
    input.forEach((value, i) => {
      const r = item(value, `${path}[${i}]`);
      if (r.ok) out.push(r.value);
      else errors.push(...r.errors);
    });
    return errors.length ? { ok: false, errors } : ok(out);
  };
}

export function object<S extends Record<string, Validator<unknown>>>(
  shape: S,
): Validator<{ [K in keyof S]: Infer<S[K]> }> {
  return (input, path = '') => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return fail(path, 'expected object');
    }
    const record = input as Record<string, unknown>;
    const out = {} as { [K in keyof S]: Infer<S[K]> };
    const errors: string[] = [];
    for (const key of Object.keys(shape) as (keyof S & string)[]) {
      const r = shape[key](record[key], path ? `${path}.${key}` : key);
      if (r.ok) out[key] = r.value as Infer<S[typeof key]>;
      else errors.push(...r.errors);
    }
    return errors.length ? { ok: false, errors } : ok(out);
  };
}

export const User = object({
  name: string({ min: 1, max: 80 }),
  email: string({ pattern: /^[^@\s]+@[^@\s]+$/ }),
  age: optional(number({ integer: true, min: 0 })),
  tags: array(string()),
  admin: boolean,
});

export type User = Infer<typeof User>;
