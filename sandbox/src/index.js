// UltraZend backend entry point: HTTP API + SMTP listeners.
//   PORT (3001), SMTP_MX_PORT (2525), SMTP_SUBMISSION_PORT (5875), HOST (127.0.0.1), DATABASE_URL.
// Health needs users.is_verified and a verified system user: while the schema is broken
// every health call answers 500 with the real SQLite error.
const http = require('http');
const net = require('net');
const db = require('./config/database');
const { logger, logRequest } = require('./config/logger');
const UltraZendSMTPServer = require('./services/smtpServer').default;

const PORT = Number(process.env.PORT || 3001);
const HOST = process.env.HOST || '127.0.0.1';
const MX_PORT = Number(process.env.SMTP_MX_PORT || 2525);
const SUBMISSION_PORT = Number(process.env.SMTP_SUBMISSION_PORT || 5875);
const SYSTEM_EMAIL = 'system@ultrazend.com.br';
const VERSION = require('../package.json').version;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function systemUser() {
  const user = await db('users')
    .select('id', 'email', 'name', 'is_verified', 'created_at')
    .where('email', SYSTEM_EMAIL)
    .first();
  if (!user) throw new HttpError(500, `system user ${SYSTEM_EMAIL} not found`);
  if (!user.is_verified) throw new HttpError(500, `system user ${SYSTEM_EMAIL} is not verified (users.is_verified = ${user.is_verified})`);
  return user;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: HOST });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

const routes = {
  '/health': async () => {
    await systemUser();
    return { status: 'ok', service: 'ultrazend-smtp', version: VERSION, timestamp: new Date().toISOString() };
  },
  '/api/health': async () => {
    const started = Date.now();
    await db.raw('select 1 as ok');
    const [{ journal_mode: journal }] = await db.raw('PRAGMA journal_mode');
    await systemUser();
    const [mx, submission] = await Promise.all([portOpen(MX_PORT), portOpen(SUBMISSION_PORT)]);
    return {
      status: mx && submission ? 'ok' : 'degraded',
      version: VERSION,
      uptime_s: Math.round(process.uptime()),
      db: { status: 'ok', journal_mode: journal, latency_ms: Date.now() - started },
      smtp: { mx: { port: MX_PORT, listening: mx }, submission: { port: SUBMISSION_PORT, listening: submission } },
    };
  },
  '/api/users/me': async () => {
    // The sandbox has no sessions: "me" is the system user, as the admin panel's service account.
    const user = await systemUser();
    return { user: { ...user, is_verified: Boolean(user.is_verified) } };
  },
};

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  const path = (req.url || '/').split('?')[0];
  let status = 200;
  let body;
  let error = null;
  const handler = req.method === 'GET' || req.method === 'HEAD' ? routes[path] : undefined;
  try {
    if (!handler) throw new HttpError(404, `no route for ${req.method} ${path}`);
    body = await handler();
  } catch (err) {
    status = err.status || 500;
    error = err.message;
    body = { status: 'error', error: err.message, path };
  }
  const ms = Date.now() - started;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  logRequest({ method: req.method, path, status, ms, error });
  if (status >= 500) {
    process.stderr.write(`${new Date().toISOString()} ERROR ${req.method} ${path} ${status}: ${error}\n`);
  }
});

async function main() {
  server.listen(PORT, HOST, () => logger.info('HTTP API listening', { port: PORT, host: HOST, pid: process.pid }));
  const smtp = new UltraZendSMTPServer({ mxPort: MX_PORT, submissionPort: SUBMISSION_PORT, host: HOST });
  await smtp.start();
  const stop = async (signal) => {
    logger.info('shutting down', { signal });
    server.close();
    await smtp.stop().catch(() => {});
    await db.destroy().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  logger.error('startup failed', { error: err.message });
  process.exit(1);
});
