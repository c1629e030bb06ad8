// Migration tests (UltraZend recovery runbook, phase 08; from the seed's 8.1, fixed).
// Run from backend/:  node --test tests/migrations/migration.test.js
// Needs no jest: node's built-in test runner (node:test, node:assert) and the app's knex.
//
// Every migration runs on a fresh temporary database, then the schema the code expects is checked.
// The seed's version checked hasColumn('users', 'is_verified') twice, so it could never catch the
// email_verified drift; here the second check is on the legacy column. This is the only check that
// reveals a migration edited after it was applied: knex stores no checksum of migration files.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const knex = require('knex');

const MIGRATIONS = path.join(__dirname, '..', '..', 'src', 'migrations');
const WANTED = __WANTED_JSON__;
const LEGACY = __LEGACY_JSON__;
const SYSTEM_EMAIL = __EMAIL_JSON__;
const ESSENTIAL_TABLES = __TABLES_JSON__;

function sqliteClient() {
  // The driver the app itself has installed: better-sqlite3, else sqlite3.
  for (const name of ['better-sqlite3', 'sqlite3']) {
    try {
      require.resolve(name);
      return name;
    } catch (e) {
      // not installed: try the next one
    }
  }
  throw new Error('neither better-sqlite3 nor sqlite3 is installed in this backend');
}

describe('migrations on a fresh database', () => {
  let db;
  let dir;
  let latestError = null;

  before(async () => {
    // A temporary file, not :memory:, so every pooled connection sees the same database.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ultrazend-migration-test-'));
    db = knex({
      client: sqliteClient(),
      connection: { filename: path.join(dir, 'test.sqlite') },
      useNullAsDefault: true,
      migrations: { directory: MIGRATIONS, tableName: 'knex_migrations', loadExtensions: ['.js'] },
    });
    try {
      await db.migrate.latest();
    } catch (error) {
      latestError = error; // reported by the first test, so the others still say what is missing
    }
  });

  after(async () => {
    if (db) await db.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs every migration successfully', () => {
    assert.equal(latestError, null, `migrate:latest failed: ${latestError && latestError.message}`);
  });

  it('leaves nothing pending', async () => {
    const [, pending] = await db.migrate.list();
    assert.deepEqual(pending.map((m) => m.file || m.name || m), []);
  });

  it(`has users.${WANTED} and no users.${LEGACY}`, async () => {
    const hasWanted = await db.schema.hasColumn('users', WANTED);
    const hasLegacy = await db.schema.hasColumn('users', LEGACY);
    assert.equal(hasWanted, true, `users.${WANTED} is missing`);
    assert.equal(hasLegacy, false, `users.${LEGACY} is still there`);
  });

  it('has the essential tables', async () => {
    const missing = [];
    for (const table of ESSENTIAL_TABLES) {
      if (!(await db.schema.hasTable(table))) missing.push(table);
    }
    assert.deepEqual(missing, [], `missing tables: ${missing.join(', ')}`);
  });

  it('has a verified system user', async () => {
    const user = await db('users').where('email', SYSTEM_EMAIL).first();
    assert.ok(user, `system user ${SYSTEM_EMAIL} not found`);
    assert.ok(Number(user[WANTED]) === 1 || user[WANTED] === true, `system user ${SYSTEM_EMAIL} is not verified (${WANTED} = ${user[WANTED]})`);
  });
});
