// Written by the UltraZend recovery runbook (phase 03): the system user, inserted with only the
// columns the users table really has (the seed's 021 assumed password, role and is_active exist).
const EMAIL = __EMAIL_JSON__;
const WANTED = __WANTED_JSON__;

exports.up = async function (knex) {
  const info = await knex.raw('PRAGMA table_info(users)');
  const columns = new Set(info.map((c) => c.name));
  const existing = await knex('users').where('email', EMAIL).first();
  if (existing) {
    if (columns.has(WANTED) && !existing[WANTED]) {
      const update = { [WANTED]: 1 };
      if (columns.has('updated_at')) update.updated_at = knex.fn.now();
      await knex('users').where('email', EMAIL).update(update);
    }
    return;
  }
  const wanted = {
    email: EMAIL,
    name: 'Sistema UltraZend',
    [WANTED]: 1,
    password_hash: '$2b$12$system.account.cannot.login.xxxxxxxxxxxxxxxxxxxxxxxxxx',
    password: '$2b$12$system.account.cannot.login.xxxxxxxxxxxxxxxxxxxxxxxxxx',
    role: 'system',
    plan: 'system',
    is_admin: 1,
    is_active: 1,
    created_at: knex.fn.now(),
    updated_at: knex.fn.now(),
  };
  const row = Object.fromEntries(Object.entries(wanted).filter(([name]) => columns.has(name)));
  const uncovered = info.filter((c) => c.notnull && c.dflt_value === null && !c.pk && !(c.name in row));
  if (uncovered.length) {
    throw new Error(`cannot insert the system user: NOT NULL columns without default: ${uncovered.map((c) => c.name).join(', ')}`);
  }
  await knex('users').insert(row);
};

exports.down = async function () {
  // Irreversible on purpose: the system user may predate this migration (015 inserts it too).
};
