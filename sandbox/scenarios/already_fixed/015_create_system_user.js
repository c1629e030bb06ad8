// Version applied in production: uses is_verified.
exports.up = async function (knex) {
  const existing = await knex('users').where('email', 'system@ultrazend.com.br').first();
  if (existing) return;
  await knex('users').insert({
    name: 'Sistema UltraZend',
    email: 'system@ultrazend.com.br',
    password_hash: '$2b$12$system.account.cannot.login.xxxxxxxxxxxxxxxxxxxxxxxxxx',
    is_verified: true,
    is_admin: true,
    plan: 'system',
    created_at: knex.fn.now(),
    updated_at: knex.fn.now(),
  });
};

exports.down = function (knex) {
  return knex('users').where('email', 'system@ultrazend.com.br').del();
};
