// Version applied in production: a half-finished rename added is_verified next to email_verified
// (the alterTable was later removed from this file, but production had already run it).
exports.up = async function (knex) {
  const hasIsVerified = await knex.schema.hasColumn('users', 'is_verified');
  if (!hasIsVerified) {
    await knex.schema.alterTable('users', (table) => {
      table.boolean('is_verified').notNullable().defaultTo(false);
    });
  }
  const existing = await knex('users').where('email', 'system@ultrazend.com.br').first();
  if (existing) return;
  await knex('users').insert({
    name: 'Sistema UltraZend',
    email: 'system@ultrazend.com.br',
    password_hash: '$2b$12$system.account.cannot.login.xxxxxxxxxxxxxxxxxxxxxxxxxx',
    email_verified: true,
    is_admin: true,
    plan: 'system',
    created_at: knex.fn.now(),
    updated_at: knex.fn.now(),
  });
};

exports.down = function (knex) {
  return knex('users').where('email', 'system@ultrazend.com.br').del();
};
