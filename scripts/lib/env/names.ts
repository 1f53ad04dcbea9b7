// The env names and the Node 20 note, apart from the valibot schema: every script's
// --help needs them, and should not load a schema library to print text.
export const ENV_NAMES = ['dev', 'prod'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** What Node 20 does with --env-file before any script runs (fixed in Node 22). */
export const NODE20_ENV_FILE_NOTE =
  'Node 20 reads --env-file itself, anywhere on the command line: a missing file makes node exit 9 ("not found") and a folder makes it exit 9 ("invalid format") before the script starts.';
