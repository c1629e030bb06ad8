#!/usr/bin/env node
// Fill an UltraZend database with realistic data, fast enough for 10 million emails:
// better-sqlite3 prepared statements inside large transactions, progress on stdout.
//
//   node scripts/seed-data.js --db ultrazend.sqlite --users 50 --emails 5000 [--diverge]
//
// It adapts to the users table it finds (email_verified, is_verified, both or neither), because the
// sandbox scenarios reach different schemas through their migrations. --diverge (both_columns) makes
// email_verified and is_verified disagree on some users, so dropping one column loses information.
const path = require('path');
const Database = require('better-sqlite3');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return dflt;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

const dbPath = path.resolve(arg('db', process.env.DATABASE_URL || 'ultrazend.sqlite'));
const nUsers = Number(arg('users', 50));
const nEmails = Number(arg('emails', 5000));
const diverge = Boolean(arg('diverge', false));
const BATCH = 100000;

// Deterministic PRNG (mulberry32): the same arguments give the same rows (timestamps follow the clock).
let seed = 0x5eed1234;
function rnd() {
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const sqlTime = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
// Emails are created in time order: memoise each stamp's last second (10M rows, 3 stamps each).
function memoTime() {
  let lastSec = -1; let lastStr = '';
  return (ms) => { const sec = Math.floor(ms / 1000); if (sec !== lastSec) { lastSec = sec; lastStr = sqlTime(sec * 1000); } return lastStr; };
}
const [sentAt, createdAt, updatedAt] = [memoTime(), memoTime(), memoTime()];

const db = new Database(dbPath, { fileMustExist: true, timeout: 10000 });
db.pragma('foreign_keys = ON');
// Bulk-load settings for this connection only: a crash mid-seed just means re-running `sandbox up`.
// The file's journal mode (delete, or wal for wal_busy set afterwards) is restored at the end.
const journalMode = db.pragma('journal_mode', { simple: true });
if (journalMode !== 'wal') db.pragma('journal_mode = MEMORY');
db.pragma('synchronous = OFF');
db.pragma('cache_size = -262144'); // 256 MiB of page cache keeps the indexes of 10M rows hot
db.pragma('temp_store = MEMORY');
const cols = db.prepare('PRAGMA table_info(users)').all().map((c) => c.name);
const hasEV = cols.includes('email_verified');
const hasIV = cols.includes('is_verified');
const emailCols = db.prepare('PRAGMA table_info(emails)').all().map((c) => c.name);
const hasBounce = emailCols.includes('bounce_reason');

const FIRST = ['Ana', 'Bruno', 'Carla', 'Diego', 'Eduarda', 'Felipe', 'Gabriela', 'Henrique', 'Isabela', 'João',
  'Larissa', 'Marcos', 'Natália', 'Otávio', 'Paula', 'Rafael', 'Sofia', 'Thiago', 'Vanessa', 'William'];
const LAST = ['Silva', 'Santos', 'Oliveira', 'Souza', 'Lima', 'Pereira', 'Costa', 'Almeida', 'Ferreira', 'Rodrigues'];
const COMPANIES = ['lojaexemplo', 'clinicavida', 'escolaalfa', 'agenciaazul', 'padariapao', 'imobiliariacasa',
  'academiaforte', 'editoraletra', 'petshopamigo', 'consultoriamais'];
const NOW = Date.now();
const DAY = 86400000;

function log(msg) { process.stdout.write(`[seed-data] ${msg}\n`); }

const t0 = Date.now();
db.exec('BEGIN');

// --- users ------------------------------------------------------------------------------------
const userCols = ['name', 'email', 'password_hash', 'is_admin', 'plan', 'last_login_at', 'created_at', 'updated_at'];
if (hasEV) userCols.push('email_verified');
if (hasIV) userCols.push('is_verified');
const insUser = db.prepare(`INSERT OR IGNORE INTO users (${userCols.join(',')}) VALUES (${userCols.map(() => '?').join(',')})`);
let divergent = 0;
for (let i = 1; i <= nUsers; i++) {
  const first = pick(FIRST); const last = pick(LAST);
  const email = `${first.normalize('NFD').replace(/[^a-zA-Z]/g, '').toLowerCase()}.${last.toLowerCase()}${i}@${COMPANIES[i % COMPANIES.length]}.com.br`;
  const created = NOW - Math.floor((400 - i * (380 / Math.max(nUsers, 1))) * DAY); // 400 to 20 days ago
  const verified = rnd() < 0.7 ? 1 : 0;
  const row = [`${first} ${last}`, email, '$2b$12$' + Math.floor(rnd() * 1e16).toString(36).padEnd(53, 'x'),
    i === 1 ? 1 : 0, pick(['free', 'free', 'starter', 'pro', 'business']),
    verified ? sqlTime(NOW - Math.floor(rnd() * 20 * DAY)) : null, sqlTime(created), sqlTime(created)];
  if (hasEV) row.push(verified);
  if (hasIV) {
    // Newer sign-ups were verified through the new flow (is_verified only); a few old ones weren't migrated.
    let iv = verified;
    if (diverge && hasEV && i % 6 === 0) { iv = verified ? 0 : 1; divergent++; }
    row.push(iv);
  }
  insUser.run(row);
}
const userIds = db.prepare("SELECT id FROM users WHERE email <> 'system@ultrazend.com.br' ORDER BY id").pluck().all();
if (!userIds.length) throw new Error('no users to own emails');
log(`users: ${userIds.length} (+ system user), columns: ${[hasEV && 'email_verified', hasIV && 'is_verified'].filter(Boolean).join(', ') || 'no verified column'}${diverge ? `, ${divergent} with diverging flags` : ''}`);

// --- domains, api keys, webhooks, templates, dkim ------------------------------------------------
const insDomain = db.prepare('INSERT OR IGNORE INTO domains (user_id, domain_name, is_verified, verification_token, created_at, updated_at) VALUES (?,?,?,?,?,?)');
const domainIds = [];
userIds.slice(0, Math.max(1, Math.ceil(userIds.length / 3))).forEach((uid, k) => {
  const r = insDomain.run(uid, `${COMPANIES[k % COMPANIES.length]}${k}.com.br`, rnd() < 0.8 ? 1 : 0,
    Math.floor(rnd() * 1e16).toString(16), sqlTime(NOW - 200 * DAY), sqlTime(NOW - 200 * DAY));
  if (r.changes) domainIds.push(Number(r.lastInsertRowid));
});
const insDkim = db.prepare('INSERT INTO dkim_keys (domain_id, selector, public_key, private_key_ref, created_at, updated_at) VALUES (?,?,?,?,?,?)');
domainIds.forEach((d) => insDkim.run(d, 'ultrazend', 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A(sandbox-placeholder)', `keystore://dkim/${d}/ultrazend`, sqlTime(NOW - 150 * DAY), sqlTime(NOW - 150 * DAY)));
const insKey = db.prepare('INSERT INTO api_keys (user_id, name, key_prefix, key_hash, created_at, updated_at) VALUES (?,?,?,?,?,?)');
userIds.forEach((uid) => insKey.run(uid, 'Produção', `uz_${uid.toString(36).padStart(4, '0')}`, `sha256:sandbox-${uid}-${Math.floor(rnd() * 1e12)}`, sqlTime(NOW - 90 * DAY), sqlTime(NOW - 90 * DAY)));
const insHook = db.prepare('INSERT INTO webhooks (user_id, url, events, secret, is_active, failure_count, last_triggered_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)');
let nHooks = 0;
userIds.forEach((uid, k) => {
  if (k % 2) return;
  insHook.run(uid, `https://hooks.${COMPANIES[k % COMPANIES.length]}.com.br/ultrazend/${uid}`, JSON.stringify(pick([['delivered', 'bounced'], ['bounced'], ['delivered', 'opened', 'clicked']])),
    `whsec_sandbox_${uid}`, rnd() < 0.9 ? 1 : 0, Math.floor(rnd() * 3), sqlTime(NOW - Math.floor(rnd() * 5 * DAY)), sqlTime(NOW - 60 * DAY), sqlTime(NOW - 60 * DAY));
  nHooks++;
});
const insTpl = db.prepare('INSERT INTO email_templates (user_id, name, subject, html_body, text_body, created_at, updated_at) VALUES (?,?,?,?,?,?,?)');
userIds.slice(0, 5).forEach((uid) => insTpl.run(uid, 'boas-vindas', 'Bem-vindo(a)!', '<p>Olá {{nome}}</p>', 'Olá {{nome}}', sqlTime(NOW - 30 * DAY), sqlTime(NOW - 30 * DAY)));
log(`domains: ${domainIds.length}, api_keys: ${userIds.length}, webhooks: ${nHooks}`);

// --- security tables -------------------------------------------------------------------------------
const ip = () => `${pick([177, 186, 189, 200, 45, 185])}.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}.${1 + Math.floor(rnd() * 253)}`;
const insBl = db.prepare('INSERT OR IGNORE INTO security_blacklists (type, value, reason, active, created_at) VALUES (?,?,?,?,?)');
for (let i = 0; i < 30; i++) insBl.run(i % 3 ? 'ip' : 'domain', i % 3 ? ip() : `spam${i}.example.net`, pick(['spam source', 'brute force AUTH', 'listed in Spamhaus']), 1, sqlTime(NOW - Math.floor(rnd() * 60 * DAY)));
const insRl = db.prepare('INSERT INTO rate_limit_violations (ip_address, user_id, limit_type, attempts, created_at) VALUES (?,?,?,?,?)');
for (let i = 0; i < 120; i++) insRl.run(ip(), rnd() < 0.5 ? pick(userIds) : null, pick(['smtp_connections_per_minute', 'api_requests_per_minute', 'auth_failures']), 10 + Math.floor(rnd() * 200), sqlTime(NOW - Math.floor(rnd() * 30 * DAY)));
const insRep = db.prepare('INSERT OR IGNORE INTO ip_reputation (ip_address, reputation_score, total_connections, rejected_connections, last_seen_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?)');
for (let i = 0; i < 40; i++) insRep.run(ip(), Math.floor(rnd() * 100), Math.floor(rnd() * 5000), Math.floor(rnd() * 300), sqlTime(NOW - Math.floor(rnd() * 3 * DAY)), sqlTime(NOW - 90 * DAY), sqlTime(NOW - DAY));
const insConn = db.prepare('INSERT INTO smtp_connections (remote_address, hostname, server_type, status, reject_reason, created_at) VALUES (?,?,?,?,?,?)');
for (let i = 0; i < 200; i++) { const ok = rnd() < 0.85; insConn.run(ip(), `mx${i % 7}.provedor.net`, pick(['mx', 'submission']), ok ? 'closed' : 'rejected', ok ? null : 'rate limited', sqlTime(NOW - Math.floor(rnd() * 7 * DAY))); }
const insSup = db.prepare('INSERT OR IGNORE INTO suppression_list (user_id, email, reason, created_at) VALUES (?,?,?,?)');
for (let i = 0; i < 30; i++) insSup.run(pick(userIds), `inexistente${i}@gmail.com`, pick(['hard_bounce', 'complaint', 'unsubscribe']), sqlTime(NOW - Math.floor(rnd() * 40 * DAY)));
const insAudit = db.prepare('INSERT INTO audit_logs (user_id, action, resource, ip_address, details, created_at) VALUES (?,?,?,?,?,?)');
for (let i = 0; i < 100; i++) insAudit.run(pick(userIds), pick(['login', 'api_key.create', 'webhook.update', 'domain.verify']), pick(['session', 'api_key', 'webhook', 'domain']), ip(), null, sqlTime(NOW - Math.floor(rnd() * 30 * DAY)));
db.exec('COMMIT');

// --- emails and their satellites, in big transactions ------------------------------------------------
// Foreign keys are checked per row otherwise; the ids below come from the rows just read, so the
// bulk load skips the check (a third of the time at 10M rows). foreign_key_check stays clean.
db.pragma('foreign_keys = OFF');
const emailSql = `INSERT INTO emails (user_id, domain_id, message_id, from_email, to_email, subject, status, size_bytes, sent_at, created_at, updated_at${hasBounce ? ', bounce_reason' : ''})
  VALUES (?,?,?,?,?,?,?,?,?,?,?${hasBounce ? ',?' : ''})`;
const insEmail = db.prepare(emailSql);
const insEvent = db.prepare('INSERT INTO email_events (email_id, event_type, details, created_at) VALUES (?,?,?,?)');
const insProc = db.prepare('INSERT INTO processed_emails (email_id, message_id, direction, result, processed_at) VALUES (?,?,?,?,?)');
const insSpam = db.prepare('INSERT INTO spam_analysis (email_id, score, is_spam, rules, analyzed_at) VALUES (?,?,?,?,?)');
const insPhish = db.prepare('INSERT INTO phishing_detection (email_id, confidence, verdict, indicators, detected_at) VALUES (?,?,?,?,?)');
const STATUSES = ['delivered', 'delivered', 'delivered', 'delivered', 'sent', 'sent', 'bounced', 'failed', 'queued'];
const BOUNCES = ['550 5.1.1 user unknown', '552 5.2.2 mailbox full', '554 5.7.1 message rejected as spam', '421 4.7.0 try again later'];
const SUBJECTS = ['Seu pedido foi enviado', 'Confirme seu e-mail', 'Fatura de ', 'Promoção de fim de semana', 'Redefinição de senha', 'Lembrete de consulta'];
const span = 30 * DAY;
const lastId = db.prepare('SELECT COALESCE(MAX(id), 0) FROM emails').pluck().get();
const counts = { email_events: 0, processed_emails: 0, spam_analysis: 0, phishing_detection: 0 };

const batch = db.transaction((from, to) => {
  for (let i = from; i < to; i++) {
    const uid = userIds[i % userIds.length];
    const created = NOW - span + Math.floor((i / Math.max(nEmails, 1)) * span); // ids grow with time
    const status = STATUSES[Math.floor(rnd() * STATUSES.length)];
    const msgId = `<${(lastId + i + 1).toString(36)}.${uid}@ultrazend.com.br>`;
    const row = [uid, domainIds.length ? domainIds[i % domainIds.length] : null, msgId,
      `noreply@${COMPANIES[uid % COMPANIES.length]}.com.br`, `cliente${i % 9973}@${pick(['gmail.com', 'hotmail.com', 'uol.com.br', 'yahoo.com.br'])}`,
      SUBJECTS[i % SUBJECTS.length] + (i % SUBJECTS.length === 2 ? `#${i}` : ''), status, 2000 + Math.floor(rnd() * 40000),
      status === 'queued' ? null : sentAt(created + 2000), createdAt(created), updatedAt(created + 5000)];
    if (hasBounce) row.push(status === 'bounced' ? BOUNCES[i % BOUNCES.length] : null);
    const id = insEmail.run(row).lastInsertRowid;
    if (i % 10 === 0) { insEvent.run(id, status === 'bounced' ? 'bounced' : 'delivered', null, sqlTime(created + 6000)); counts.email_events++; }
    if (i % 10 === 3) { insProc.run(id, msgId, 'outbound', 'accepted', sqlTime(created + 1000)); counts.processed_emails++; }
    if (i % 50 === 7) { const s = rnd() * 10; insSpam.run(id, Math.round(s * 10) / 10, s > 7 ? 1 : 0, '["HTML_MESSAGE"]', sqlTime(created + 1500)); counts.spam_analysis++; }
    if (i % 200 === 11) { const c = rnd(); insPhish.run(id, Math.round(c * 100) / 100, c > 0.9 ? 'phishing' : c > 0.6 ? 'suspicious' : 'clean', null, sqlTime(created + 1500)); counts.phishing_detection++; }
  }
});

for (let from = 0; from < nEmails; from += BATCH) {
  const to = Math.min(nEmails, from + BATCH);
  batch(from, to);
  if (nEmails > BATCH) log(`emails: ${to}/${nEmails} (${Math.round((to / nEmails) * 100)}%, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
log(`emails: ${nEmails}, ${Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
if (journalMode !== 'wal') db.pragma(`journal_mode = ${journalMode}`);
db.pragma('synchronous = FULL');
log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
db.close();
