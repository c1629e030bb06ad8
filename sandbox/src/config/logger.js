// Minimal JSON-lines logger.
// - logger.info/warn/error(msg, meta): one JSON line on stdout/stderr (PM2 -> logs/app.log, logs/error.log)
// - logRequest(entry): one line per HTTP request in logs/application/app-YYYY-MM-DD.log with exactly
//   the keys ts, level, method, path, status, ms, error (ts first, ISO UTC, so grep and cut work).
const fs = require('fs');
const path = require('path');

const LOG_DIR = process.env.LOG_DIR || path.resolve(__dirname, '..', '..', '..', 'logs');
const APP_LOG_DIR = path.join(LOG_DIR, 'application');

function line(level, msg, meta) {
  return JSON.stringify({ ts: new Date().toISOString(), level, msg, ...(meta || {}) });
}

const logger = {
  info: (msg, meta) => process.stdout.write(line('info', msg, meta) + '\n'),
  warn: (msg, meta) => process.stdout.write(line('warn', msg, meta) + '\n'),
  error: (msg, meta) => process.stderr.write(line('error', msg, meta) + '\n'),
  debug: (msg, meta) => {
    if (process.env.LOG_LEVEL === 'debug') process.stdout.write(line('debug', msg, meta) + '\n');
  },
};

function logRequest({ method, path: reqPath, status, ms, error }) {
  const ts = new Date().toISOString();
  const entry = {
    ts,
    level: status >= 500 ? 'error' : 'info',
    method,
    path: reqPath,
    status,
    ms,
    error: error || null,
  };
  try {
    fs.mkdirSync(APP_LOG_DIR, { recursive: true });
    fs.appendFileSync(path.join(APP_LOG_DIR, `app-${ts.slice(0, 10)}.log`), JSON.stringify(entry) + '\n');
  } catch (e) {
    process.stderr.write(`${ts} cannot write application log: ${e.message}\n`);
  }
}

module.exports = { logger, logRequest, LOG_DIR };
