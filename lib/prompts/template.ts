/**
 * MLflow's prompt template semantics, reproduced exactly so that a template behaves the same here
 * as in `mlflow.genai.load_prompt(...).variables` and `.format(...)`.
 *
 * - A variable is `{{ name }}`: a Jinja-style identifier, optionally dotted (`{{ user.email }}`),
 *   with any whitespace inside the braces. Single braces are plain text.
 * - For a chat template, MLflow runs the regex over Python's `json.dumps(messages)`, so we do too:
 *   a newline inside the braces of a chat message is `\n` there and does not make a variable.
 * - Formatting substitutes, in the order the values are given, every `{{ key }}` of each key, and
 *   fails naming the variables that got no value (unless partial).
 * - Templates MLflow renders with Jinja2 (containing both `{%` and `%}`) are refused by `format`:
 *   reimplementing Jinja2's sandbox in TypeScript would be a second template language that could
 *   disagree with MLflow's in subtle ways, and a prompt that renders differently in the agent than
 *   in MLflow is worse than one that is refused with a clear error. Listing their variables works.
 */
import * as z from 'zod';
import { InvalidInputError, MissingVariablesError, UnsupportedTemplateError } from '../errors';
import { type PyJsonValue, pythonJsonDumps } from '../util/python-json';
import { MAX_TAG_VALUE_LENGTH, pythonLength } from './metadata';

/** A chat message as MLflow stores it. Messages written by other clients may carry more keys. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
  readonly [key: string]: PyJsonValue;
}

export type Template = string | readonly ChatMessage[];

/** Values to format a template with; each key is a variable name. */
export type TemplateValues = Readonly<Record<string, string>>;

// Python's `\s` on str patterns: every character for which str.isspace() is true. JavaScript's
// `\s` differs (it has U+FEFF, lacks U+001C..U+001F and U+0085), so spell the class out.
const PY_WS =
  '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const IDENTIFIER = '[a-zA-Z_][a-zA-Z0-9_]*';

/** MLflow's PROMPT_TEMPLATE_VARIABLE_PATTERN. */
export const VARIABLE_PATTERN = new RegExp(
  `\\{\\{${PY_WS}*(${IDENTIFIER}(?:\\.${IDENTIFIER})*)${PY_WS}*\\}\\}`,
  'g',
);

export function isChatTemplate(template: Template): template is readonly ChatMessage[] {
  return typeof template !== 'string';
}

/**
 * The text MLflow searches for variables, and stores as the template (`mlflow.prompt.text`): the
 * template, or `json.dumps` of the messages.
 */
export function templateText(template: Template): string {
  return typeof template === 'string' ? template : pythonJsonDumps(template);
}

/** A message as MLflow reads one: a non-empty role and text content; other keys pass. */
export const chatMessageSchema = z.looseObject({ role: z.string().min(1), content: z.string() });

/** Checks a template before it is written; returns it unchanged. */
export function validateTemplate(template: Template): Template {
  if (isChatTemplate(template)) {
    if (template.length === 0) throw new InvalidInputError('A chat template needs at least one message.');
    template.forEach((message, index) => {
      if (!chatMessageSchema.safeParse(message).success) {
        throw new InvalidInputError(
          `Chat message ${index} must have a non-empty string 'role' and a string 'content'.`,
          { issues: [{ path: `template.${index}`, message: 'role and content are required strings' }] },
        );
      }
    });
  } else if (template.trim() === '') {
    throw new InvalidInputError('The template is empty.');
  }
  // MLflow stores the template as this text, in a tag, whose values it bounds.
  const length = pythonLength(templateText(template));
  if (length > MAX_TAG_VALUE_LENGTH) {
    throw new InvalidInputError(
      `The template is ${length} characters long; MLflow stores at most ${MAX_TAG_VALUE_LENGTH}.`,
    );
  }
  return template;
}

/** The variables of a template, sorted, as MLflow's `PromptVersion.variables` (a set) holds them. */
export function templateVariables(template: Template): string[] {
  const found = new Set<string>();
  for (const match of templateText(template).matchAll(VARIABLE_PATTERN)) {
    if (match[1] !== undefined) found.add(match[1]);
  }
  return [...found].sort();
}

/** Whether MLflow would render this template with Jinja2 instead of plain substitution. */
export function isJinjaTemplate(template: Template): boolean {
  const jinja = (text: string) => text.includes('{%') && text.includes('%}');
  return typeof template === 'string' ? jinja(template) : template.some((m) => jinja(m.content));
}

// MLflow builds its pattern from the key without escaping it; for the names a template can hold
// that only matters for `.`, which then matches any character but a newline (as in Python).
// Other regex syntax in a key is taken literally here rather than as a Python regex.
function keyPattern(key: string): RegExp {
  const body = [...key].map((ch) => (ch === '.' ? '[^\\n]' : ch.replace(/[\\^$*+?()[\]{}|/-]/g, '\\$&')));
  return new RegExp(`\\{\\{${PY_WS}*${body.join('')}${PY_WS}*\\}\\}`, 'g');
}

function substitute(text: string, values: TemplateValues): string {
  let result = text;
  // Sequential, in the caller's key order: a value may itself contain `{{ other }}` which a later
  // key then replaces. That is MLflow's behaviour and we keep it.
  for (const [key, value] of Object.entries(values)) {
    result = result.replace(keyPattern(key), () => value);
  }
  return result;
}

export interface FormatOptions {
  /** Leave variables without a value in place instead of failing. */
  readonly partial?: boolean;
}

/**
 * Formats a template. Text in, text out; messages in, `{ role, content }` messages out (other
 * message keys are dropped, as MLflow does).
 */
export function formatTemplate(template: string, values: TemplateValues, options?: FormatOptions): string;
export function formatTemplate(
  template: readonly ChatMessage[],
  values: TemplateValues,
  options?: FormatOptions,
): ChatMessage[];
export function formatTemplate(template: Template, values: TemplateValues, options?: FormatOptions): Template;
export function formatTemplate(
  template: Template,
  values: TemplateValues,
  options: FormatOptions = {},
): Template {
  if (isJinjaTemplate(template)) {
    throw new UnsupportedTemplateError(
      'This template uses Jinja2 control syntax ({% ... %}), which MLflow renders with Jinja2; ' +
        'it is not formatted here. Use {{ variable }} substitution only.',
    );
  }
  const missing = templateVariables(template).filter((name) => !Object.hasOwn(values, name));
  if (missing.length > 0 && options.partial !== true) {
    throw new MissingVariablesError(missing);
  }
  if (typeof template === 'string') return substitute(template, values);
  return template.map((message) => ({ role: message.role, content: substitute(message.content, values) }));
}
