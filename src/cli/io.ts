/**
 * The CLI's standard streams and environment, passed in rather than taken from `process` so that
 * tests can run commands in-process with their own stdin, captured output and DATA_DIR.
 */
export interface CliInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CliOutput extends NodeJS.WritableStream {
  isTTY?: boolean;
}

export interface CliIo {
  stdin: CliInput;
  stdout: CliOutput;
  stderr: CliOutput;
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Write one line to a stream. */
export function writeLine(stream: CliOutput, line = ''): void {
  stream.write(`${line}\n`);
}
