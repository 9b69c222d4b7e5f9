/**
 * `osls package` run the way CI and an operator without an AWS account run it: no AWS
 * credentials or settings in the environment, a throwaway HOME (so no ~/.aws), and nothing on
 * the network. Used by the template test and the bundle benchmark. Also a small reader for the
 * zips it writes (stored and deflated entries, which is what serverless-esbuild produces).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { hermeticEnv } from '../../local/hermetic-env';

export interface PackageOptions {
  readonly stage: string;
  readonly region: string;
  /** Written to; emptied first. */
  readonly outDir: string;
  /** `--param="name=value"` for each entry. */
  readonly params?: Readonly<Record<string, string>>;
  /** The project root (where serverless.yml is); default the current directory. */
  readonly root?: string;
  readonly timeoutMs?: number;
  /** More variables for osls (e.g. MLFLOW_TRACKING_URI, which the prompt snapshot reads). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface PackagedService {
  readonly dir: string;
  readonly template: CfnTemplate;
  /** The artifacts: file name (e.g. `register.zip`) to absolute path. */
  readonly zips: ReadonlyMap<string, string>;
  /** osls's output, for diagnostics. */
  readonly output: string;
}

export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, CfnValue>;
  readonly Condition?: string;
  readonly DependsOn?: string | string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Conditions?: Record<string, CfnValue>;
  readonly Outputs?: Record<string, CfnValue>;
}

/** Runs `npx --no-install osls package` and reads what it wrote. Rejects with osls's output on failure. */
export async function packageService(options: PackageOptions): Promise<PackagedService> {
  const root = options.root ?? process.cwd();
  rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  const home = join(options.outDir, '.home');
  mkdirSync(home, { recursive: true });
  // serverless-esbuild builds under the project root; a folder of its own per run lets several
  // packagings (a test and a benchmark) run at once.
  const workFolder = join('.cache', `esbuild-${randomBytes(4).toString('hex')}`);
  const args = [
    '--no-install',
    'osls',
    'package',
    '--stage',
    options.stage,
    '--region',
    options.region,
    '--package',
    options.outDir,
    ...Object.entries(options.params ?? {}).map(([name, value]) => `--param=${name}=${value}`),
  ];
  const run = new Promise<string>((resolve, reject) => {
    const child = spawn('npx', args, {
      cwd: root,
      env: hermeticEnv(home, { PROMPTOPS_ESBUILD_WORK_FOLDER: workFolder, ...options.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a timeout stops npx and osls under it together.
      detached: true,
    });
    let text = '';
    const append = (chunk: string) => {
      text += chunk;
    };
    child.stdout.setEncoding('utf8').on('data', append);
    child.stderr.setEncoding('utf8').on('data', append);
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }, options.timeoutMs ?? 180_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`osls package exited with ${code ?? signal}:\n${text.trim()}`));
    });
  });
  let output: string;
  try {
    output = await run;
  } finally {
    rmSync(join(root, workFolder), { recursive: true, force: true });
  }

  const templateFile = join(options.outDir, 'cloudformation-template-update-stack.json');
  if (!existsSync(templateFile)) throw new Error(`osls package wrote no ${templateFile}:\n${output}`);
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate;
  const zips = new Map(
    readdirSync(options.outDir)
      .filter((name) => name.endsWith('.zip'))
      .sort()
      .map((name) => [name, join(options.outDir, name)] as const),
  );
  return { dir: options.outDir, template, zips, output };
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

// ---------------------------------------------------------------------------------------------
// Zip reading.

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  read(): Buffer;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

/** The entries of a zip file (no zip64, no encryption: more than serverless-esbuild writes). */
export function readZip(path: string): ZipEntry[] {
  const zip = readFileSync(path);
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error(`${path}: not a zip file (no end of central directory)`);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== CENTRAL_FILE_HEADER) throw new Error(`${path}: bad central directory`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    entries.push({
      name,
      method,
      compressedSize,
      size,
      read() {
        if (zip.readUInt32LE(localHeader) !== LOCAL_FILE_HEADER)
          throw new Error(`${path}: bad entry ${name}`);
        const start =
          localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
        const data = zip.subarray(start, start + compressedSize);
        if (method === 0) return Buffer.from(data);
        if (method === 8) return inflateRawSync(data);
        throw new Error(`${path}: entry ${name} uses compression method ${method}`);
      },
    });
  }
  return entries;
}
