// A long, non-transactional backfill whose migrator process died mid-run (OOM killer, deploy
// timeout...). knex took its lock in a separate committed transaction because this migration opts
// out of transactions, so the lock row stays at is_locked = 1 and no history row is written.
exports.config = { transaction: false };

exports.up = async function (knex) {
  await knex('users').select('id').limit(1);
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => {}); // never reached
};

exports.down = async function () {};
