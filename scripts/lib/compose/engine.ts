import { $ } from 'zx/core';
import { findTool } from '../tools.js';

/** How Compose is invoked: v2 (`docker compose`) preferred, Debian's docker-compose 1.29 as the fallback. */
export interface ComposeFlavor {
  version: 'v2' | 'v1';
  argv: string[];
}

export const COMPOSE_V2: ComposeFlavor = { version: 'v2', argv: ['docker', 'compose'] };
export const COMPOSE_V1: ComposeFlavor = { version: 'v1', argv: ['docker-compose'] };

/** The Compose available here, or undefined when neither is installed. */
export async function detectCompose(): Promise<ComposeFlavor | undefined> {
  if (findTool('docker')) {
    const probe = await $({ quiet: true, nothrow: true })`docker compose version`;
    if (probe.exitCode === 0) return COMPOSE_V2;
  }
  if (findTool('docker-compose')) return COMPOSE_V1;
  return undefined;
}

/** `<compose> -p <project> -f <file>`: every compose command of the deploy starts with this. */
export function composeBase(flavor: ComposeFlavor, project: string, file: string): string[] {
  return [...flavor.argv, '-p', project, '-f', file];
}

export interface ConfigResult {
  ok: boolean;
  /** The tool's own message when it refuses the file. */
  message: string;
}

/** Runs `compose config -q`: the real tool's verdict on a rendered file. */
export async function composeConfig(flavor: ComposeFlavor, project: string, file: string): Promise<ConfigResult> {
  const [command, ...rest] = [...composeBase(flavor, project, file), 'config', '-q'];
  const result = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  return { ok: result.exitCode === 0, message: (result.stderr || result.stdout).trim() };
}
