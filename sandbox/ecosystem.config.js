// PM2 process file for UltraZend (lives at the app root, next to backend/ and logs/).
// Settings come from backend/.env (PORT, SMTP ports, DATABASE_URL, ULTRAZEND_WRITER), so
// `pm2 startOrReload ecosystem.config.js` from deploy.sh needs no environment of its own.
const fs = require('fs');
const path = require('path');

const root = __dirname;
const backend = path.join(root, 'backend');
const logs = path.join(root, 'logs');

function readEnvFile(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || !line.includes('=')) continue;
    const i = line.indexOf('=');
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim().replace(/^["']|["']$/g, '');
  }
  return out;
}

const env = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  PORT: '3001',
  SMTP_MX_PORT: '2525',
  SMTP_SUBMISSION_PORT: '5875',
  DATABASE_URL: path.join(backend, 'ultrazend.sqlite'),
  LOG_DIR: logs,
  ...readEnvFile(path.join(backend, '.env')),
};

const apps = [
  {
    name: 'ultrazend-api',
    cwd: backend,
    script: 'dist/index.js',
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    max_restarts: 10,
    kill_timeout: 3000,
    out_file: path.join(logs, 'app.log'),
    error_file: path.join(logs, 'error.log'),
    merge_logs: true,
    env,
  },
];

if (env.ULTRAZEND_WRITER === '1') {
  apps.push({
    name: 'ultrazend-writer',
    cwd: backend,
    script: 'scripts/writer.js',
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    out_file: path.join(logs, 'writer.log'),
    error_file: path.join(logs, 'writer-error.log'),
    merge_logs: true,
    env,
  });
}

module.exports = { apps };
