import type { Cluster } from './cluster.js';

/** Several schemas, unicode names and text, NULLs, TOASTed large rows, bytea, jsonb, a foreign key. */
export const DATASET_SQL = `
CREATE SCHEMA clinical;
CREATE SCHEMA "Ünïcode schema";
CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL, email text, note text);
INSERT INTO public.users (name, email, note)
  SELECT 'user ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'u' || g || '@example.org' END,
         CASE WHEN g % 5 = 0 THEN NULL ELSE 'Grüße 健康 🩺 ' || g END
  FROM generate_series(1, 2000) g;
CREATE TABLE clinical.readings (id bigserial PRIMARY KEY, user_id int REFERENCES public.users (id), taken_at timestamptz, value numeric(10, 3), payload jsonb);
INSERT INTO clinical.readings (user_id, taken_at, value, payload)
  SELECT 1 + g % 2000, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
         CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 1000) / 7.0 END,
         jsonb_build_object('kind', 'heart_rate', 'bpm', 50 + g % 90, 'note', CASE WHEN g % 11 = 0 THEN NULL ELSE 'ok' END)
  FROM generate_series(1, 20000) g;
CREATE TABLE "Ünïcode schema"."Tâble with spaces" (k text PRIMARY KEY, big text, blob bytea);
INSERT INTO "Ünïcode schema"."Tâble with spaces"
  SELECT 'row ' || g, repeat(md5(g::text), 40000), decode(repeat(md5((g * 7)::text), 2000), 'hex') FROM generate_series(1, 3) g;
INSERT INTO "Ünïcode schema"."Tâble with spaces" VALUES ('nulls', NULL, NULL);
CREATE TABLE clinical.empty_table (id int);
`;

/** md5 of every row of every table, per table: equal maps mean equal content. */
export function tableChecksums(cluster: Cluster, database: string): Record<string, string> {
  const out = cluster.sql(
    `SELECT format('SELECT %L || ''|'' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), ''empty'') FROM %I.%I t', n.nspname || '.' || c.relname, n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1
     \\gexec`,
    database,
  );
  return Object.fromEntries(out.split('\n').map((line) => [line.slice(0, line.lastIndexOf('|')), line.slice(line.lastIndexOf('|') + 1)]));
}
