/**
 * The one logger every script uses. It writes progress to stderr and replaces
 * every registered secret value with *** before anything reaches the terminal,
 * including output of child processes passed through `log.passthrough`.
 */
const secretValues = new Set<string>();
let verbose = false;
let quiet = false;

export const REDACTED = '***';

/**
 * The shortest value the redactor hides. A shorter one cannot be hidden without rewriting our
 * own words (a secret "password" turned the warning about it into `contains "***"`, and
 * `grafana_admin_password` into `grafana_admin_***`), and what goes missing shows the value.
 * Every placeholder word the prod policy knows (env/policy.ts) is shorter, and prod refuses a
 * secret shorter than 16 for every real run (init-env never writes one), so every secret a real
 * prod run holds is hidden wherever it appears; a shorter value is a dev value or a placeholder.
 */
export const MIN_REDACTED_LENGTH = 12;

export function registerSecret(value: string | undefined): void {
  if (value && value.length > 0) secretValues.add(value);
}

/** Every registered value, short ones too: check.ts looks for them in the rendered configs. */
export function registeredSecrets(): string[] {
  return [...secretValues];
}

export function redact(text: string): string {
  let result = text;
  // Longest first, so a secret that contains another is hidden whole.
  for (const secret of [...secretValues].sort((a, b) => b.length - a.length)) {
    if (secret.length >= MIN_REDACTED_LENGTH) result = result.split(secret).join(REDACTED);
  }
  return result;
}

export function setVerbose(value: boolean): void {
  verbose = value;
}

export function isVerbose(): boolean {
  return verbose;
}

export function setQuiet(value: boolean): void {
  quiet = value;
}

// CSI and OSC escape sequences (colours, cursor moves, hyperlinks) that child tools print.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colourAllowed(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function write(line: string): void {
  process.stderr.write(`${redact(colourAllowed(process.stderr) ? line : stripAnsi(line))}\n`);
}

export const log = {
  info(message: string): void {
    if (!quiet) write(message);
  },
  step(index: number, total: number, message: string): void {
    if (!quiet) write(`[${index}/${total}] ${message}`);
  },
  warn(message: string): void {
    write(`warning: ${message}`);
  },
  error(message: string): void {
    write(`error: ${message}`);
  },
  debug(message: string): void {
    if (verbose) write(`debug: ${message}`);
  },
  /** Child-process output shown to the user, redacted line by line. */
  passthrough(text: string): void {
    if (quiet || text.length === 0) return;
    const plain = colourAllowed(process.stderr) ? text : stripAnsi(text);
    process.stderr.write(redact(plain.endsWith('\n') ? plain : `${plain}\n`));
  },
  /** Results meant for stdout (plans, reports): redacted too. */
  out(text: string): void {
    process.stdout.write(`${redact(colourAllowed(process.stdout) ? text : stripAnsi(text))}\n`);
  },
};
