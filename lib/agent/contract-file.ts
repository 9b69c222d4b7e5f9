/**
 * The agent's contract file, `agent.yaml` beside the prompt files: the prompts the agent loads
 * and the variables it supplies to each.
 *
 *     prompts:
 *       orchestrator:
 *         variables: [context, query]
 *       intent_classifier:
 *         variables: [query]
 *
 * Every problem names the file and the field. Bundles do not read it: the build embeds what this
 * reader made of it (scripts/esbuild-plugins.cjs), so the deployed functions need neither the
 * file nor a YAML parser.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { BRIEFLY, InvalidPromptFileError, zodIssues } from '../errors';
import { validatePromptName } from '../prompts/names';
import { templateVariables } from '../prompts/template';
import type { AgentContract } from './contract';

/** The contract's file name in a prompts directory. */
export const CONTRACT_FILE = 'agent.yaml';

/** A name MLflow finds as a variable: `{{ name }}` has exactly it. */
function isVariableName(name: string): boolean {
  const found = templateVariables(`{{ ${name} }}`);
  return found.length === 1 && found[0] === name;
}

const variablesSchema = z
  .array(
    z.string().refine(isVariableName, {
      error: 'not a variable name (letters, digits and _, not starting with a digit; dots between parts)',
    }),
  )
  .refine((variables) => new Set(variables).size === variables.length, {
    error: 'a variable is listed twice',
  });

const contractSchema = z.strictObject({
  prompts: z
    .record(z.string(), z.strictObject({ variables: variablesSchema }))
    .superRefine((prompts, ctx) => {
      const names = Object.keys(prompts);
      if (names.length === 0)
        ctx.addIssue({ code: 'custom', message: 'the agent loads at least one prompt' });
      for (const name of names) {
        try {
          validatePromptName(name);
        } catch (error) {
          ctx.addIssue({ code: 'custom', path: [name], message: (error as Error).message });
        }
      }
    }),
});

/** The contract in `text`; `source` names the file in errors and in the contract. */
export function parseContract(source: string, text: string): AgentContract {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const first = document.errors[0];
  if (first !== undefined) {
    throw new InvalidPromptFileError(source, `invalid YAML: ${first.message}`, { cause: first });
  }
  const parsed = contractSchema.safeParse(document.toJS() ?? {});
  if (!parsed.success) {
    const { issues, line } = zodIssues(parsed.error, BRIEFLY);
    throw new InvalidPromptFileError(source, `invalid agent contract: ${line}`, {
      issues,
      cause: parsed.error,
    });
  }
  return {
    source,
    prompts: Object.fromEntries(Object.entries(parsed.data.prompts).map(([name, p]) => [name, p.variables])),
  };
}

/** The contract in the file at `path`. */
export function readContractFile(path: string): AgentContract {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const reason = String((cause as { code?: unknown }).code ?? cause);
    throw new InvalidPromptFileError(path, `cannot be read (${reason}).`, { cause });
  }
  return parseContract(path, text);
}
