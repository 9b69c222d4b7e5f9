/** A schema's refusal as the project reports it: field issues, and one line for the message. */
import type * as z from 'zod';
import type { FieldIssue } from './classes';

export interface IssueFormat {
  /** The issue's message; default: zod's own. */
  readonly describe?: (issue: z.core.$ZodIssue) => string;
  /** A path the schema's paths sit under (`modelConfig`). */
  readonly at?: string;
  /** How the line names a path; an empty name leaves the message alone. Default: the path. */
  readonly name?: (path: string) => string;
  /** The line keeps only the first `count` issues. */
  readonly count?: number;
}

/** Names the whole input `(root)` rather than leaving its issue unnamed. */
export const orRoot = (path: string): string => path || '(root)';

/** For errors about data we were sent: the first three issues, the whole named `(root)`. */
export const BRIEFLY: IssueFormat = { name: orRoot, count: 3 };

/** `issues` as `name: message` lines. */
export function issueLines(
  issues: readonly FieldIssue[],
  format: Pick<IssueFormat, 'name' | 'count'> = {},
): string[] {
  const name = format.name ?? ((path: string) => path);
  return issues.slice(0, format.count).map((issue) => {
    const named = name(issue.path);
    return named ? `${named}: ${issue.message}` : issue.message;
  });
}

/** The refusal's issues with dotted paths, and them on one line (`path: message; ...`). */
export function zodIssues(
  error: { readonly issues: readonly z.core.$ZodIssue[] },
  format: IssueFormat = {},
): { readonly issues: FieldIssue[]; readonly line: string } {
  const issues = error.issues.map((issue) => ({
    path: (format.at === undefined ? issue.path : [format.at, ...issue.path]).join('.'),
    message: format.describe?.(issue) ?? issue.message,
  }));
  return { issues, line: issueLines(issues, format).join('; ') };
}
