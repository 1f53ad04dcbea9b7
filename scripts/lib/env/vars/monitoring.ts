import { v } from '../spec.js';

const URL_PATTERN = /^https?:\/\/[^\s@]+$/;
// An SMTP path holds at most 254 characters (RFC 5321).
const EMAIL_PATTERN = /^(?=.{3,254}$)[^\s@]+@[^\s@]+$/;

/** Prometheus, Alertmanager and Grafana. */
export const monitoringVars = {
  PROMETHEUS_RETENTION: v.duration({
    description: 'How long Prometheus keeps samples (--storage.tsdb.retention.time).',
    default: { dev: '7d', prod: '30d' },
  }),
  PROMETHEUS_ALERTMANAGER_ADDRESS: v.str({
    description: 'host:port Prometheus sends alerts to (the alertmanager service in compose).',
    pattern: /^[A-Za-z0-9.-]+:\d{1,5}$/,
    patternHint: 'must be host:port, like alertmanager:9093',
    default: 'alertmanager:9093',
  }),
  ALERT_EMAIL_TO: v.str({
    description: 'Mailbox of the on-call team: critical and warning alerts go there.',
    pattern: EMAIL_PATTERN,
    patternHint: 'must be an email address (at most 254 characters)',
    default: { dev: 'oncall@healthmate.local' },
    example: 'oncall@example.com',
  }),
  ALERT_EMAIL_FROM: v.str({
    description: 'Sender address of alert emails.',
    pattern: EMAIL_PATTERN,
    patternHint: 'must be an email address (at most 254 characters)',
    default: { dev: 'alertmanager@healthmate.local' },
    example: 'alertmanager@example.com',
  }),
  SMTP_HOST: v.str({
    description: 'SMTP relay Alertmanager sends alert emails through (dev: Mailhog).',
    pattern: /^[A-Za-z0-9.-]+$/,
    patternHint: 'must be a host name',
    default: { dev: 'mailhog' },
    example: 'smtp.example.com',
  }),
  SMTP_PORT: v.port({ description: 'Port of the SMTP relay (587 = submission with STARTTLS).', default: { dev: '1025', prod: '587' } }),
  SMTP_USER: v.str({
    description: 'User Alertmanager authenticates to the SMTP relay with (prod only; Mailhog needs none).',
    pattern: /^\S+$/,
    patternHint: 'must not contain spaces',
    default: { dev: 'alertmanager' },
    example: 'alerts@example.com',
  }),
  SMTP_PASSWORD: v.secret({
    description: 'Password of SMTP_USER (Alertmanager reads it from secrets/smtp_password).',
    default: { dev: 'dev-smtp-password' },
  }),
  ALERT_WEBHOOK_URL: v.str({
    description: 'Webhook (chat or paging bridge) that receives critical and info alerts.',
    pattern: URL_PATTERN,
    patternHint: 'must be an http(s) URL',
    default: { dev: 'http://127.0.0.1:5001/alerts' },
    example: 'https://hooks.example.com/healthmate-alerts',
  }),
  WATCHDOG_WEBHOOK_URL: v.str({
    description: "Dead man's switch URL the always-firing Watchdog alert pings every minute; alarm there when pings stop.",
    pattern: URL_PATTERN,
    patternHint: 'must be an http(s) URL',
    default: { dev: 'http://127.0.0.1:5001/watchdog' },
    example: 'https://hc-ping.example.com/healthmate-watchdog',
  }),
  GRAFANA_ADMIN_USER: v.str({
    description: 'Name of the Grafana admin user.',
    pattern: /^[a-z][a-z0-9_.-]{2,63}$/,
    patternHint: 'must be 3-64 lowercase letters, digits, _ . or -',
    default: { dev: 'admin', prod: 'healthmate-admin' },
  }),
  GRAFANA_ADMIN_PASSWORD: v.secret({
    description: 'Password of the Grafana admin user (read by Grafana from a file).',
    default: { dev: 'dev-grafana-admin-password' },
  }),
};
