import { v } from '../spec.js';

/** Database and configuration backups. */
export const backupVars = {
  BACKUP_KEEP_DAYS: v.int({ description: 'Keep the newest backup of each of this many recent days.', min: 0, max: 3650, default: '7' }),
};
