/**
 * The prompts bundled into the function as its fallback (lib/prompt-loader/snapshot.ts). This
 * module is replaced when the function is packaged: `scripts/esbuild-plugins.cjs` swaps in the
 * snapshot `promptops snapshot` takes then (the stage's aliases, read from the registry, or the
 * files in prompts/ where no registry could be read). Unbundled (tests), there is none.
 */
import type { PromptSnapshot } from '../../lib/prompt-loader/snapshot';

export const bundledSnapshot: PromptSnapshot | undefined = undefined;
