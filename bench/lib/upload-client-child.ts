/**
 * Entry of a benchmark client process (upload-clients.ts, uploadInClientProcess): runs the one
 * upload given as JSON in argv[2] and prints what it measured as one JSON line.
 */
import { runClientUpload, type ClientUpload } from './upload-clients';

runClientUpload(JSON.parse(process.argv[2]!) as ClientUpload).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  },
);
