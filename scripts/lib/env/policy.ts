/**
 * Production policy: values that are fine for a dry run but must never reach
 * a real system (placeholder secrets, reserved domains).
 */
export const WEAK_WORDS = [
  'changeme',
  'change-me',
  'change_me',
  'changethis',
  'password',
  'passw0rd',
  'secret',
  'example',
  'placeholder',
  'default',
  'admin',
  'letmein',
  'qwerty',
  '123456',
];

export const MIN_SECRET_LENGTH = 16;

/** Why a secret is weak, or undefined when it is acceptable. */
export function weakSecretReason(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  const lower = value.toLowerCase();
  const word = WEAK_WORDS.find((w) => lower.includes(w));
  if (word) return `looks like a placeholder (contains "${word}")`;
  if (value.length < MIN_SECRET_LENGTH) return `is shorter than ${MIN_SECRET_LENGTH} characters`;
  if (new Set(value).size < 6) return 'uses too few distinct characters';
  return undefined;
}

const RESERVED_DOMAIN = /(^|\.)(localhost|example\.(com|org|net)|example|test|invalid|local)$/;
const IP_ADDRESS = /^(\d{1,3}\.){3}\d{1,3}$|:/;

/** Why a domain cannot serve production, or undefined. */
export function nonProductionDomainReason(domain: string): string | undefined {
  if (IP_ADDRESS.test(domain)) return 'is an IP address, not a public DNS name';
  if (RESERVED_DOMAIN.test(domain)) return 'is a reserved name (localhost, example.*, .test, .local, .invalid)';
  return undefined;
}
