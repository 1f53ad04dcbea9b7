/** Exit codes shared by every script. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

/** Bad usage or bad input: the user must change something. Exit 2, nothing changed. */
export class BadInputError extends Error {
  readonly exitCode = EXIT_BAD_INPUT;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'BadInputError';
  }
}

/** An operation was attempted and failed. Exit 1. */
export class OperationError extends Error {
  readonly exitCode = EXIT_FAILED;
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OperationError';
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
