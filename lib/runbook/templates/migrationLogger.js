// Structured migration log lines (UltraZend recovery runbook, phase 08; the seed's 8.3).
// Usage in a migration:  const MigrationLogger = require('../utils/migrationLogger');
const { logger } = require('../config/logger');

class MigrationLogger {
  static logMigrationStart(migrationName) {
    logger.info(`📊 Starting migration: ${migrationName}`, {
      migration: migrationName,
      timestamp: new Date().toISOString(),
      type: 'migration_start',
    });
  }

  static logMigrationComplete(migrationName, duration) {
    logger.info(`✅ Completed migration: ${migrationName}`, {
      migration: migrationName,
      duration: `${duration}ms`,
      timestamp: new Date().toISOString(),
      type: 'migration_complete',
    });
  }

  static logMigrationError(migrationName, error) {
    logger.error(`❌ Migration failed: ${migrationName}`, {
      migration: migrationName,
      error: error.message,
      stack: error.stack,
      timestamp: new Date().toISOString(),
      type: 'migration_error',
    });
  }
}

module.exports = MigrationLogger;
