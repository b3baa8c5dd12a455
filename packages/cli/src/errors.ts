// Typed errors of the plugin. Each carries the exit code kubectl users expect: 2 for a
// command line that cannot work, 1 for everything else (not found, refused, API errors).
// Messages name the run and fold and say what to do next.

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  override readonly name: string = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UsageError extends CliError {
  override readonly name = "UsageError";
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

export class NotFoundError extends CliError {
  override readonly name = "NotFoundError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_FAILURE, options);
  }
}

/** The request was understood but the object is in a state that does not allow it. */
export class RefusedError extends CliError {
  override readonly name = "RefusedError";
}
