import { v } from '../spec.js';

/** Prometheus, Alertmanager and Grafana. */
export const monitoringVars = {
  GRAFANA_ADMIN_PASSWORD: v.secret({
    description: 'Password of the Grafana admin user (read by Grafana from a file).',
    default: { dev: 'dev-grafana-admin-password' },
  }),
};
