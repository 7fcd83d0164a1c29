/**
 * A password from standard input: typed at a hidden prompt (twice) when stdin is a terminal,
 * otherwise the first line of what is piped in, so that it never appears in argv or shell history.
 */
import { StringDecoder } from 'node:string_decoder';
import type { CliInput, CliIo } from './io';

export async function readPassword(io: CliIo): Promise<string> {
  const { stdin } = io;
  let password: string;
  if (stdin.isTTY && stdin.setRawMode) {
    password = await promptHidden(io, 'Password: ');
    if (password && (await promptHidden(io, 'Repeat password: ')) !== password) throw new Error('The passwords do not match');
  } else {
    password = await readFirstLine(stdin);
  }
  if (!password) {
    throw new Error("No password given: type it at the prompt, or pipe it in on standard input (e.g. printf '%s\\n' \"$PASSWORD\" | altinn-gateway system-user add ...)");
  }
  return password;
}

export async function readFirstLine(input: CliInput): Promise<string> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const end = text.indexOf('\n');
    // Stop at the first line: the rest of the input is not ours to consume.
    if (end >= 0) return text.slice(0, end).replace(/\r$/, '');
  }
  return (text + decoder.end()).replace(/\r$/, '');
}

/** Read a line in raw mode without echoing it (backspace edits, Ctrl-C cancels). */
function promptHidden(io: CliIo, prompt: string): Promise<string> {
  const { stdin, stderr } = io;
  stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const decoder = new StringDecoder('utf8');
    const finish = (outcome: () => void): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      stderr.write('\n');
      outcome();
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : decoder.write(chunk)) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish(() => resolve(typed));
        if (char === '\u0003') return finish(() => reject(new Error('Cancelled')));
        if (char === '\u007f' || char === '\b') typed = Array.from(typed).slice(0, -1).join('');
        else if (char >= ' ') typed += char;
      }
    };
    stdin.setRawMode!(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}
