import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

/** Facts that make a result file interpretable later: what ran, on what. */
export interface MachineFacts {
  readonly node: string;
  readonly openssl: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly totalMemoryBytes: number;
  readonly kernel: string;
  readonly mosquitto: string | null;
}

export interface GitFacts {
  readonly revision: string | null;
  /** True when the work tree had uncommitted changes (the figures may not match the revision). */
  readonly dirty: boolean | null;
}

export function machineFacts(mosquittoVersion: string | null): MachineFacts {
  const list = cpus();
  return {
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    totalMemoryBytes: totalmem(),
    kernel: release(),
    mosquitto: mosquittoVersion,
  };
}

export function gitFacts(cwd: string): GitFacts {
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const revision = git(['rev-parse', 'HEAD']);
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { revision, dirty: status === null ? null : status.length > 0 };
}

/** A file-name-safe UTC timestamp, e.g. 20250101T120000Z. */
export function timestampForFile(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
