/**
 * Verify: every alias the agent loads still resolves to a version the agent can use. Reads only:
 * one search for the prompts (their aliases and alias histories come with them), then one batched
 * resolution of every alias's version, so a run costs a few requests, not one per prompt and
 * alias. A registry that cannot be read is one failure for the run, not one per prompt.
 */
import { responseFormatProblem } from '../agent/classify';
import { type AgentContract, agentPrompts, checkUsable, isAgentPrompt } from '../agent/contract';
import { isPromptOpsError, MissingVariablesError, NotFoundError, UnsupportedTemplateError } from '../errors';
import { experimentOf, isLive } from '../experiments/definition';
import { historyTag, parseHistory } from '../promote/history';
import type { PromptSnapshot } from '../prompt-loader/snapshot';
import { OWN_TAG_PREFIX } from '../prompts/file';
import { type NamingOptions, registryName } from '../prompts/naming';
import { CONTENT_HASH_TAG, contentHash } from '../register/content-hash';
import type { MissingPrompt, Prompt, PromptVersion, RegistryClient, ResolvedPrompt } from '../registry';
import { isCredentialRefusal, type RegistryProvider } from '../runtime/registry-provider';
import { own } from '../util/own';
import { CHECK_CODES as C, type Check, check, report, type VerifyReport } from './checks';

export const DEFAULT_VERIFY_ALIASES = ['production', 'staging'] as const;

/** The prompt the agent checks its classifier's answers with (its response format). */
const CLASSIFIER = 'intent_classifier';

export interface VerifyOptions {
  readonly naming: NamingOptions;
  readonly contract: AgentContract;
  /** The aliases the agent loads (default production and staging). */
  readonly aliases?: readonly string[] | undefined;
  /** Only these prompts, by short name (the files in a directory); default the contract's. */
  readonly prompts?: readonly string[] | undefined;
  /** What the predict function serves when the registry cannot answer: compared with production. */
  readonly fallback?: PromptSnapshot | undefined;
  readonly now?: (() => number) | undefined;
}

/** The whole run's one failure: the registry could not be read. */
function registryFailure(error: unknown): Check {
  const where = { prompt: '*' };
  const message = error instanceof Error ? error.message : String(error);
  if (isCredentialRefusal(error)) {
    return check(
      'fail',
      C.credentialsRefused,
      'The registry refused the credentials (the secret, or the MLFLOW_TRACKING_* variables of a CLI run): update them.',
      where,
    );
  }
  const code = isPromptOpsError(error) ? error.code : undefined;
  if (code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' || code === 'RATE_LIMITED') {
    return check(
      'fail',
      C.registryUnreachable,
      `No answer (${message}): check that the registry (or Secrets Manager, when the message names it) is up and reachable.`,
      where,
    );
  }
  if (code === 'INVALID_SECRET') {
    return check(
      'fail',
      C.registryFailed,
      `The registry secret cannot be used: ${message} Fix the secret.`,
      where,
    );
  }
  return check('fail', C.registryFailed, `Reading the registry failed: ${message}`, where);
}

/** The content hash register would have written for this version. */
function recomputedHash(version: PromptVersion): string {
  const tags = Object.fromEntries(
    Object.entries(version.tags).filter(([key]) => !key.startsWith(OWN_TAG_PREFIX)),
  );
  return contentHash({
    template: version.template,
    tags,
    modelConfig: version.modelConfig,
    responseFormat: version.responseFormat,
  });
}

const hours = (ms: number) =>
  ms < 3_600_000 ? `${Math.max(1, Math.round(ms / 60_000))} min` : `${(ms / 3_600_000).toFixed(1)} h`;

/** The checks of one version an alias points at. */
function versionChecks(
  short: string,
  alias: string,
  version: PromptVersion,
  options: VerifyOptions,
): Check[] {
  const where = { prompt: version.name, alias, version: version.version };
  const checks: Check[] = [];
  if (isAgentPrompt(short, options.contract)) {
    try {
      checkUsable(short, version.template, options.contract);
    } catch (error) {
      if (error instanceof MissingVariablesError) {
        checks.push(
          check(
            'fail',
            C.contractViolated,
            `${alias} serves version ${version.version}, which needs ${error.missing.join(', ')}: the agent does not supply ${error.missing.length > 1 ? 'them' : 'it'}. Promote or roll back ${alias} to a version the agent can format.`,
            where,
          ),
        );
      } else if (error instanceof UnsupportedTemplateError) {
        checks.push(
          check(
            'fail',
            C.templateUnusable,
            `${alias} serves version ${version.version}: ${error.message} Move ${alias} to a usable version.`,
            where,
          ),
        );
      } else throw error;
    }
  }
  if (short === CLASSIFIER && version.responseFormat !== undefined) {
    const problem = responseFormatProblem(version.responseFormat);
    if (problem) {
      checks.push(
        check(
          'fail',
          C.responseFormatUnusable,
          `The response format of version ${version.version}: ${problem}. Move ${alias} to a version with a usable one.`,
          where,
        ),
      );
    }
  }
  const recorded = version.tags[CONTENT_HASH_TAG];
  if (recorded === undefined) {
    checks.push(
      check(
        'warn',
        C.hashMissing,
        `Version ${version.version} has no ${CONTENT_HASH_TAG} tag: it was registered outside the pipeline. Register it from its prompt file to bring it under it.`,
        where,
      ),
    );
  } else if (recorded !== recomputedHash(version)) {
    checks.push(
      check(
        'fail',
        C.hashMismatch,
        `Version ${version.version} no longer matches the content it was registered with: its template, tags or configuration were edited outside the pipeline. Register the prompt file again and promote that version.`,
        where,
      ),
    );
  }
  const fallback =
    alias === 'production' ? options.fallback?.entries.find((e) => e.key === short) : undefined;
  const differs =
    fallback !== undefined &&
    (fallback.contentHash !== null && recorded !== undefined
      ? fallback.contentHash !== recorded
      : JSON.stringify(fallback.template) !== JSON.stringify(version.template));
  if (differs) {
    checks.push(
      check(
        'warn',
        C.fallbackDiffers,
        `The predict function's bundled fallback for ${short} differs from production's version ${version.version}: repackage and deploy predict so that its fallback serves the same.`,
        where,
      ),
    );
  }
  if (!checks.some((c) => c.status === 'fail')) {
    checks.unshift(check('ok', C.ok, `${alias} serves version ${version.version}.`, where));
  }
  return checks;
}

/** The newest move the alias's history records, if any. */
const lastRecordedMove = (prompt: Prompt, alias: string) =>
  parseHistory(prompt.tags[historyTag(alias)]).entries.at(-1);

/** What to run to set `alias` again: the command names the version when one is known. */
function aliasMissing(prompt: Prompt, short: string, alias: string): Check {
  const last = lastRecordedMove(prompt, alias);
  const promote = (version: number | string) =>
    `\`promptops promote ${short} --from ${version} --to ${alias}\``;
  const staging = prompt.aliases.staging;
  const what =
    last !== undefined
      ? `its history last recorded version ${last.version}; if that version still exists, restore it with ${promote(last.version)}, else promote one that does`
      : alias === 'staging'
        ? 'upload its prompt file to register a version and set staging'
        : staging !== undefined
          ? `promote a version to ${alias}, e.g. staging's: ${promote(staging)}`
          : `promote a version to ${alias}: ${promote('<version>')}`;
  return check('fail', C.aliasMissing, `${prompt.name} has no ${alias} alias: ${what}.`, {
    prompt: prompt.name,
    alias,
  });
}

/**
 * An alias whose history ends on another version than the one it points at: it was moved outside
 * promptops (MLflow's UI or SDK), or a move was made whose record was lost (the promote and
 * register functions report that as AUDIT_INCOMPLETE when they see it; a crash would not).
 * Aliases with no history at all were never moved here, and are not judged.
 */
function unrecordedMove(prompt: Prompt, short: string, alias: string, version: number): Check | undefined {
  const last = lastRecordedMove(prompt, alias);
  if (last === undefined || last.version === version) return undefined;
  return check(
    'warn',
    C.aliasUnrecorded,
    `${alias} points at version ${version}, but its history's last move is to version ${last.version}: it was moved outside promptops, or a move's record was lost. Once you know who moved it, \`promptops promote ${short} --from ${version} --to ${alias} --reason '...'\` records the move (the alias stays).`,
    { prompt: prompt.name, alias, version },
  );
}

interface Unreadable {
  readonly unreadable: string;
}

/**
 * Every target's version, batched. One version that does not parse fails the batch (the client
 * will not hand back a template it cannot read); then each is read alone (a request each, in that
 * case only), so that the one that does not parse is named and the others are still checked.
 */
async function resolveEach(
  registry: RegistryClient,
  targets: readonly { name: string; version: number }[],
): Promise<(ResolvedPrompt | MissingPrompt | Unreadable)[]> {
  const pinned = targets.map((t) => ({ name: t.name, version: t.version }));
  let batchError: unknown;
  try {
    return await registry.resolvePrompts(pinned, { allowMissing: true });
  } catch (error) {
    if (!isPromptOpsError(error) || error.code !== 'MALFORMED_RESPONSE') throw error;
    batchError = error;
  }
  const each = await Promise.all(
    pinned.map(async (target): Promise<ResolvedPrompt | MissingPrompt | Unreadable> => {
      try {
        return {
          target,
          version: await registry.getPromptVersion(target.name, target.version),
          promptTags: {},
        };
      } catch (error) {
        if (error instanceof NotFoundError) return { target, missing: error };
        if (isPromptOpsError(error) && error.code === 'MALFORMED_RESPONSE')
          return { unreadable: error.message };
        throw error;
      }
    }),
  );
  // Nothing readable at all: the registry's answers are the problem (a proxy's page), not a version.
  if (each.every((answer) => 'unreadable' in answer)) throw batchError;
  return each;
}

/**
 * A prompt's experiment, from the tags already read: one predict cannot read (it serves control
 * to everyone), or a live one whose variant alias is gone (its users get control instead).
 */
function experimentChecks(prompt: Prompt, now: number): Check[] {
  const { experiment, problem } = experimentOf(prompt);
  if (problem !== null) {
    return [
      check(
        'warn',
        C.experimentInvalid,
        `${problem} Predict ignores it and serves control to everyone: start the experiment again with 'promptops experiment start', or stop it.`,
        { prompt: prompt.name },
      ),
    ];
  }
  if (experiment === null || !isLive(experiment, now)) return [];
  return experiment.variants
    .filter((v) => v.weight_bp > 0 && own(prompt.aliases, v.alias) === undefined)
    .map((v) =>
      check(
        'warn',
        C.experimentVariantMissing,
        `Experiment '${experiment.id}' sends ${v.weight_bp / 100}% of traffic to alias '${v.alias}', which does not exist: those requests get ${experiment.control} instead. Set the alias, or stop the experiment.`,
        { prompt: prompt.name, alias: v.alias },
      ),
    );
}

export async function verifyPrompts(registry: RegistryClient, options: VerifyOptions): Promise<VerifyReport> {
  const aliases = options.aliases ?? DEFAULT_VERIFY_ALIASES;
  const shorts = options.prompts ?? agentPrompts(options.contract);
  const names = shorts.map((short) => registryName(short, options.naming));
  let found: Map<string, Prompt>;
  let resolved: (ResolvedPrompt | MissingPrompt | Unreadable)[];
  const targets: { short: string; alias: string; name: string; version: number }[] = [];
  const checks: Check[] = [];
  try {
    found = new Map((await registry.findPrompts(names)).map((p) => [p.name, p]));
    for (const [i, name] of names.entries()) {
      const short = shorts[i] as string;
      const prompt = found.get(name);
      if (prompt === undefined) {
        // One line per alias: each (prompt, alias) the agent loads has its line and its metric.
        for (const alias of aliases) {
          checks.push(
            check('fail', C.promptMissing, `${name} is not in the registry: register its prompt file.`, {
              prompt: name,
              alias,
            }),
          );
        }
        continue;
      }
      for (const alias of aliases) {
        const version = prompt.aliases[alias];
        if (version === undefined) checks.push(aliasMissing(prompt, short, alias));
        else {
          targets.push({ short, alias, name, version });
          const unrecorded = unrecordedMove(prompt, short, alias, version);
          if (unrecorded) checks.push(unrecorded);
        }
      }
    }
    resolved = targets.length === 0 ? [] : await resolveEach(registry, targets);
  } catch (error) {
    // Refused credentials go up to whoever holds the secret: it fetches the secret again and
    // runs this once more (a rotation), and reports the refusal itself if that fails too.
    if (isCredentialRefusal(error)) throw error;
    return report([registryFailure(error)]);
  }
  const served = new Map<string, PromptVersion>();
  for (const [i, target] of targets.entries()) {
    const answer = resolved[i];
    if (answer !== undefined && 'unreadable' in answer) {
      checks.push(
        check(
          'fail',
          C.templateInvalid,
          `${target.alias} serves version ${target.version}, whose template or configuration does not parse (${answer.unreadable}): move ${target.alias} to a version that does, and register the prompt file again.`,
          { prompt: target.name, alias: target.alias, version: target.version },
        ),
      );
      continue;
    }
    if (answer === undefined || 'missing' in answer) {
      checks.push(
        check(
          'fail',
          C.aliasVersionMissing,
          `${target.alias} points at version ${target.version}, which no longer exists: promote or roll back ${target.alias} to a version that does.`,
          { prompt: target.name, alias: target.alias, version: target.version },
        ),
      );
      continue;
    }
    served.set(`${target.name}@${target.alias}`, answer.version);
    checks.push(...versionChecks(target.short, target.alias, answer.version, options));
  }
  const now = options.now ?? Date.now;
  for (const name of names) {
    const production = served.get(`${name}@production`);
    const staging = served.get(`${name}@staging`);
    if (production === undefined || staging === undefined || staging.version <= production.version) continue;
    const age =
      staging.creationTimestamp === undefined
        ? ''
        : ` (registered ${hours(now() - staging.creationTimestamp)} ago)`;
    checks.push(
      check(
        'warn',
        C.stagingAhead,
        `staging (version ${staging.version}) is ahead of production (version ${production.version})${age}: a promotion is pending.`,
        { prompt: name, alias: 'staging', version: staging.version },
      ),
    );
  }
  for (const prompt of found.values()) checks.push(...experimentChecks(prompt, now()));
  // In the order prompts and aliases were asked for: each prompt's lines together.
  const promptRank = new Map(names.map((name, i) => [name, i]));
  const aliasRank = new Map(aliases.map((alias, i) => [alias, i + 1]));
  const rank = (c: Check) =>
    (promptRank.get(c.prompt) ?? -1) * (aliases.length + 1) +
    (c.alias === null ? 0 : (aliasRank.get(c.alias) ?? 0));
  return report([...checks].sort((a, b) => rank(a) - rank(b)));
}

/**
 * A verify run through whoever holds the registry's credentials (the functions' provider, the
 * CLI's, or a plain client): a refusal is theirs to retry with a fresh secret, and a run that
 * still cannot read the registry is one failure, not an error.
 */
export function verifyThrough(
  holder: Pick<RegistryProvider, 'withRegistry'>,
  options: VerifyOptions,
): Promise<VerifyReport> {
  return holder
    .withRegistry((registry) => verifyPrompts(registry, options))
    .catch((error: unknown) => report([registryFailure(error)]));
}
