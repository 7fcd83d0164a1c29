/** Progress lines on stderr-free stdout, prefixed with the elapsed time, so a long run shows where it is. */
const started = Date.now();

export function log(message: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench ${seconds}s] ${message}\n`);
}

export function scenarioLogger(name: string): (message: string) => void {
  return (message) => log(`${name}: ${message}`);
}
