// The seed's test_connectivity.js (phase 4.2), run by the UltraZend recovery runbook with `node -e`
// in the backend folder and DATABASE_URL set: the app's own database module answers SELECT 1 and a
// user count. One JSON line on stdout; the exit code is the verdict.
const db = require('./src/config/database');

db.raw('SELECT 1 AS test')
  .then(() => db('users').count('* as count').first())
  .then((row) => {
    process.stdout.write(JSON.stringify({ ok: true, users: Number(row.count) }) + '\n');
    return db.destroy();
  })
  .catch((error) => {
    process.stdout.write(JSON.stringify({ ok: false, error: error.message }) + '\n');
    process.exitCode = 1;
    return db.destroy();
  });
