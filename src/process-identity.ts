/**
 * Who holds a lease: `host:pid:incarnation`, one per process. Leases (running jobs, upload
 * attempts) name their holder so that a process starting on the same host can tell which holders
 * are dead (a crash or kill -9 left their claims behind) and free those at once, instead of
 * waiting for the leases to run out. Holders on other hosts are left to their leases.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const HOST = hostname();
/** This process; a later process that reuses the pid (a container's PID 1) has another incarnation. */
export const PROCESS_OWNER = `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** True when `owner` is a process of this host that no longer runs. */
export function isDeadLocalOwner(owner: string | null | undefined): boolean {
  if (!owner) return false;
  const [host, pidText] = owner.split(':');
  if (host !== HOST || !pidText || !/^\d+$/.test(pidText)) return false;
  if (owner.startsWith(`${PROCESS_OWNER}`)) return false;
  const pid = Number(pidText);
  if (pid === process.pid) return true; // an earlier incarnation with our pid: it is gone, we are here
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
