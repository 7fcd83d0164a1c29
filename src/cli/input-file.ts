/** A file named on the command line, read whole (keys and certificates: small), with a message that says what it was for. */
import fs from 'node:fs';

export async function readInputFile(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (error) {
    throw new Error(`Cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
