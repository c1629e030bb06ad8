// Security checks applied to every SMTP session: blacklist lookups and rate-limit bookkeeping.
const db = require('../config/database');
const { logger } = require('../config/logger');

class SecurityManager {
  constructor(options = {}) {
    this.maxPerMinute = options.maxPerMinute || 120;
    this.window = new Map(); // ip -> [timestamps]
  }

  async isBlacklisted(value) {
    const row = await db('security_blacklists').where({ value, active: 1 }).first();
    return Boolean(row);
  }

  async checkConnection(ip) {
    if (await this.isBlacklisted(ip)) {
      logger.warn('connection from blacklisted ip', { ip });
      return { allowed: false, reason: 'blacklisted' };
    }
    const now = Date.now();
    const hits = (this.window.get(ip) || []).filter((t) => now - t < 60000);
    hits.push(now);
    this.window.set(ip, hits);
    if (hits.length > this.maxPerMinute) {
      await db('rate_limit_violations').insert({
        ip_address: ip,
        limit_type: 'smtp_connections_per_minute',
        attempts: hits.length,
        created_at: db.fn.now(),
      });
      return { allowed: false, reason: 'rate_limited' };
    }
    return { allowed: true };
  }
}

module.exports = { SecurityManager };
