import { run } from './main';

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stderr.isTTY === true,
};
process.exitCode = await run(process.argv.slice(2), io);
