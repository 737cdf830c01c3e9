import { readFileSync } from 'node:fs';

/**
 * CPU seconds a process has used so far, every thread (utime + stime of /proc/PID/stat, in the kernel's
 * USER_HZ ticks, 100 a second on Linux); undefined where there is no /proc.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
