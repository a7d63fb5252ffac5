import type { TSchema } from 'typebox';
import { combineErrors, FulcrumError } from '../core/errors.ts';
import type { Backend, Certificate, ConfigState, Instance, LoadBalancer } from './model.ts';
import { checkSchema } from './schema-errors.ts';

/**
 * What the per-resource validation modules share (config/validate.ts runs them): the report
 * callback, the refusal constructors and the per-field check of a stored resource.
 */

/** Collects the problems of a validation run. */
export type Report = (err: FulcrumError) => void;

export function rule(field: string, message: string): FulcrumError {
  return new FulcrumError('rule', `${field}: ${message}`, field);
}
export function conflict(field: string, message: string): FulcrumError {
  return new FulcrumError('conflict', `${field}: ${message}`, field);
}

/** The per-field rules of schemas.ts on one stored resource. */
export function checkFields(schema: TSchema, doc: unknown, report: Report): boolean {
  const problems = checkSchema(schema, doc);
  for (const p of problems) report(p);
  return problems.length === 0;
}

/** True for an integer from `min` to `max` (inclusive). */
export function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** One resource on its own: its fields' rules, then its cross-field `rules`; throws every problem as one FulcrumError. */
export function resourceCheck<T>(schema: TSchema, rules: (doc: T, report: Report) => void): (doc: T) => void {
  return (doc) => {
    const out: FulcrumError[] = [];
    const report: Report = (e) => {
      out.push(e);
    };
    if (checkFields(schema, doc, report)) rules(doc, report);
    const err = combineErrors(out);
    if (err) throw err;
  };
}

/** A refusal of a write rule, keyed by resource and message so a change can be told from the state before it. */
export interface Violation {
  key: string;
  error: FulcrumError;
}

/** The indexes of a configuration that cross-resource rules look things up in. */
export interface Indexes {
  readonly lbs: ReadonlyMap<string, LoadBalancer>;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly instances: ReadonlyMap<string, Instance>;
  readonly certs: ReadonlyMap<string, Certificate>;
}

/** Builds the indexes of a configuration. */
export function indexes(c: ConfigState): Indexes {
  return {
    lbs: new Map(c.loadBalancers.map((x) => [x.id, x])),
    backends: new Map(c.backends.map((x) => [x.id, x])),
    instances: new Map(c.instances.map((x) => [x.id, x])),
    certs: new Map(c.certificates.map((x) => [x.id, x])),
  };
}
