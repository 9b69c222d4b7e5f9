/**
 * The prompt file format: Markdown with YAML front matter, one prompt per file, kept in git.
 *
 *     ---
 *     name: orchestrator                 # optional; defaults to the file name without extension
 *     description: What the prompt is for
 *     variables: [query, context]        # required: the variables the agent supplies
 *     tags: { team: platform }           # optional, string values
 *     model_config: { temperature: 0.2 } # optional, MLflow's PromptModelConfig fields
 *     response_format: { type: object }  # optional, a JSON schema
 *     commit_message: Why this changed   # optional; becomes the version's commit message
 *     messages:                          # optional: a chat prompt instead of the body
 *       - { role: system, content: "You are {{ persona }}" }
 *     ---
 *     The template text, with {{ variable }} placeholders.
 *
 * The body after the closing `---` line is the text template, with line endings normalised to
 * `\n` and the file's final newline removed. A chat prompt puts its messages in the front matter
 * and leaves the body empty. The same loader serves `prompts/`, the CLI and S3 uploads.
 */
import { LineCounter, parseDocument } from 'yaml';
import * as z from 'zod';
import { InvalidInputError, InvalidPromptFileError, zodIssues } from '../errors';
import { isOwnTagKey, TAG_KEYS } from '../registry/tag-keys';
import { pythonJsonDumps } from '../util/python-json';
import { type JsonObject, MAX_DESCRIPTION_LENGTH, serialiseModelConfig, validateUserTags } from './metadata';
import { validatePromptName } from './names';
import {
  type ChatMessage,
  isJinjaTemplate,
  type Template,
  templateVariables,
  validateTemplate,
} from './template';

/** Tags this project writes itself; refused in prompt files. */
export const OWN_TAG_PREFIX = TAG_KEYS.oss.ownPrefix;

/** Larger files are refused before parsing: a prompt is text, not a data set. */
export const MAX_PROMPT_FILE_BYTES = 256 * 1024;

const jsonValue: z.ZodType<unknown> = z.json();

const frontMatterSchema = z.strictObject({
  name: z.string().optional(),
  description: z
    .string()
    .max(MAX_DESCRIPTION_LENGTH, `at most ${MAX_DESCRIPTION_LENGTH} characters (MLflow's column)`)
    .optional(),
  variables: z.array(z.string()),
  tags: z.record(z.string(), z.string()).optional(),
  model_config: z.record(z.string(), jsonValue).optional(),
  response_format: z.record(z.string(), jsonValue).optional(),
  commit_message: z
    .string()
    .max(MAX_DESCRIPTION_LENGTH, `at most ${MAX_DESCRIPTION_LENGTH} characters (MLflow's column)`)
    .optional(),
  messages: z
    .array(z.strictObject({ role: z.string().min(1), content: z.string() }))
    .min(1)
    .optional(),
});

export interface PromptFile {
  /** Where it came from, for messages (a path or an S3 key). */
  readonly source: string;
  /** The prompt's short name (before any catalog/schema naming is applied). */
  readonly name: string;
  readonly description: string | undefined;
  readonly variables: readonly string[];
  readonly template: Template;
  readonly tags: Readonly<Record<string, string>>;
  readonly modelConfig: Readonly<Record<string, unknown>> | undefined;
  readonly responseFormat: JsonObject | undefined;
  readonly commitMessage: string | undefined;
}

const FRONT_MATTER = /^---[ \t]*\n([\s\S]*?\n)?---[ \t]*(?:\n|$)/;

function decodeUtf8(source: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (cause) {
    throw new InvalidPromptFileError(source, 'the file is not valid UTF-8 text.', { cause });
  }
}

function baseName(source: string): string {
  const file = source.split('/').pop() ?? source;
  return file.replace(/\.[^.]*$/, '');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  return path ? `'${path}': ${issue.message}` : issue.message;
}

function sameSet(a: readonly string[], b: readonly string[]): { missing: string[]; extra: string[] } {
  return { missing: a.filter((x) => !b.includes(x)), extra: b.filter((x) => !a.includes(x)) };
}

/**
 * Names written `{name}` in a template: MLflow's variables are `{{name}}`, so these are plain
 * text to it, most likely by mistake (a Python format string pasted in). Bounded: at most the
 * first 20, each name at most 64 characters.
 */
export function singleBraceNames(template: Template): string[] {
  const texts = typeof template === 'string' ? [template] : template.map((m) => m.content);
  const names = new Set<string>();
  for (const text of texts) {
    for (const match of text.matchAll(/(?<!\{)\{([A-Za-z_][A-Za-z0-9_]{0,63})\}(?!\})/g)) {
      names.add(match[1] as string);
      if (names.size >= 20) return [...names];
    }
  }
  return [...names];
}

/** yaml's messages quote the source over several lines: the first says what is wrong. */
const oneLineOf = (message: string) => message.split('\n')[0]?.trim() ?? message;

/** Parses and validates one prompt file; every problem names the file and what is wrong. */
export function parsePromptFile(source: string, content: Uint8Array | string): PromptFile {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  if (bytes.byteLength > MAX_PROMPT_FILE_BYTES) {
    throw new InvalidPromptFileError(
      source,
      `the file is ${bytes.byteLength} bytes; prompt files are limited to ${MAX_PROMPT_FILE_BYTES} bytes.`,
    );
  }
  const text = decodeUtf8(source, bytes)
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n');
  const match = FRONT_MATTER.exec(text);
  if (!match) {
    throw new InvalidPromptFileError(
      source,
      "no front matter: the file must start with a '---' line, YAML fields, and a closing '---' line.",
    );
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(match[1] ?? '', { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    // Where in the file: the front matter starts on the line after the opening '---'.
    const at = first ? lineCounter.linePos(first.pos[0]) : undefined;
    const where = at ? ` (line ${at.line + 1}, column ${at.col})` : '';
    throw new InvalidPromptFileError(
      source,
      `invalid YAML in the front matter${where}: ${oneLineOf(first?.message ?? 'parse error')}`,
      {
        cause: first,
      },
    );
  }
  let fields: unknown;
  try {
    // Building the value expands aliases: yaml refuses a document that expands them too often
    // (a "billion laughs"), with a plain error that is the file's fault all the same.
    fields = document.toJS() ?? {};
  } catch (cause) {
    throw new InvalidPromptFileError(
      source,
      `invalid YAML in the front matter: ${oneLineOf(cause instanceof Error ? cause.message : String(cause))}`,
      { cause },
    );
  }
  const parsed = frontMatterSchema.safeParse(fields);
  if (!parsed.success) {
    // describeIssue names the field itself: the line is the messages alone.
    const { issues, line } = zodIssues(parsed.error, { describe: describeIssue, name: () => '' });
    throw new InvalidPromptFileError(source, `invalid front matter: ${line}`, {
      issues,
      cause: parsed.error,
    });
  }
  const meta = parsed.data;
  const body = text.slice(match[0].length).replace(/\n$/, '');

  let template: Template;
  if (meta.messages) {
    if (body.trim() !== '') {
      throw new InvalidPromptFileError(
        source,
        "a chat prompt ('messages') must leave the body after the front matter empty.",
      );
    }
    template = meta.messages as ChatMessage[];
  } else {
    if (body.trim() === '')
      throw new InvalidPromptFileError(source, 'the template (the body after the front matter) is empty.');
    template = body;
  }

  const name = meta.name ?? baseName(source);
  try {
    validatePromptName(name);
    validateUserTags(meta.tags ?? {});
    // This project's own tags (content hash, provenance, alias history) are written by it alone:
    // a file must not forge them.
    // Both spellings: on Unity Catalog `promptops_content_hash` would read back as our own.
    const own = Object.keys(meta.tags ?? {}).filter(isOwnTagKey);
    if (own.length > 0) {
      throw new InvalidInputError(
        `the tag(s) ${own.join(', ')} are reserved: '${OWN_TAG_PREFIX}*' and '${TAG_KEYS.uc.ownPrefix}*' tags are set by promptops.`,
      );
    }
    // Checked here, so that a bad config fails the file before anything is written.
    if (meta.model_config !== undefined) serialiseModelConfig(meta.model_config);
    if (meta.response_format !== undefined) pythonJsonDumps(meta.response_format as JsonObject);
  } catch (error) {
    throw new InvalidPromptFileError(source, (error as InvalidInputError).message, { cause: error });
  }
  try {
    validateTemplate(template);
  } catch (error) {
    throw new InvalidPromptFileError(source, (error as Error).message, { cause: error });
  }
  if (isJinjaTemplate(template)) {
    throw new InvalidPromptFileError(
      source,
      'the template uses Jinja2 control syntax ({% ... %}), which this project does not render; use {{ variable }} only.',
    );
  }
  const found = templateVariables(template);
  const { missing, extra } = sameSet(found, [...new Set(meta.variables)]);
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `the template uses undeclared variable(s) ${missing.join(', ')}` : '',
      extra.length > 0 ? `declared variable(s) ${extra.join(', ')} do not appear in the template` : '',
    ].filter(Boolean);
    throw new InvalidPromptFileError(source, `${parts.join('; ')} (found: ${found.join(', ') || 'none'}).`);
  }

  return {
    source,
    name,
    description: meta.description,
    variables: found,
    template,
    tags: meta.tags ?? {},
    modelConfig: meta.model_config as Record<string, unknown> | undefined,
    responseFormat: meta.response_format as JsonObject | undefined,
    commitMessage: meta.commit_message,
  };
}
