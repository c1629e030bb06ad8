#!/usr/bin/env node
// Continuous writer (PM2 app "ultrazend-writer", scenario wal_busy): queues one outbound email every
// 20-50 ms through the application's database, as the real queue worker does under load.
// It survives a locked or replaced database (backup, restore) by logging and retrying.
const path = require('path');
const Database = require('better-sqlite3');

const dbPath = path.resolve(__dirname, '..', process.env.DATABASE_URL || 'ultrazend.sqlite');
let db = null;
let insert = null;
let userIds = [];
let written = 0;
let failures = 0;

function open() {
  db = new Database(dbPath, { fileMustExist: true, timeout: 5000 });
  userIds = db.prepare("SELECT id FROM users WHERE email <> 'system@ultrazend.com.br'").pluck().all();
  insert = db.prepare(`INSERT INTO emails (user_id, message_id, from_email, to_email, subject, status, size_bytes, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, 'queued', ?, datetime('now'), datetime('now'))`);
  console.log(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: 'writer connected', db: dbPath, journal_mode: db.pragma('journal_mode', { simple: true }) }));
}

function tick() {
  try {
    if (!db) open();
    const uid = userIds.length ? userIds[written % userIds.length] : null;
    insert.run(uid, `<w${Date.now().toString(36)}.${process.pid}.${written}@ultrazend.com.br>`, 'noreply@ultrazend.com.br',
      `destino${written % 997}@gmail.com`, 'Notificação automática', 1800 + (written % 500));
    written++;
    if (written % 500 === 0) console.log(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: 'writer progress', written }));
  } catch (err) {
    failures++;
    console.error(JSON.stringify({ ts: new Date().toISOString(), level: 'error', msg: 'writer insert failed', error: err.message, failures }));
    try { if (db) db.close(); } catch (e) { /* already closed */ }
    db = null;
  }
  setTimeout(tick, 20 + Math.floor(Math.random() * 30));
}

process.on('SIGINT', () => { try { if (db) db.close(); } finally { process.exit(0); } });
process.on('SIGTERM', () => { try { if (db) db.close(); } finally { process.exit(0); } });
tick();
