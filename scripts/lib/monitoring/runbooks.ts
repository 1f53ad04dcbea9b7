import { readFileSync } from 'node:fs';

/** Alerts link here; the anchor is the GitHub slug of the alert's heading in docs/runbooks.md. */
export const RUNBOOK_URL_PREFIX = 'https://github.com/healthmate/healthmate-deploy/blob/main/docs/runbooks.md#';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces as dashes. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Anchors of every Markdown heading in a runbook file. */
export function runbookAnchors(markdownPath: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of readFileSync(markdownPath, 'utf8').split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = /^#{1,6}\s+(.+?)\s*#*$/.exec(line);
    if (heading?.[1] && !inFence) anchors.add(headingSlug(heading[1]));
  }
  return anchors;
}
