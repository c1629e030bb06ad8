// Version applied in production: already used is_verified (the repository's copy was later
// reverted to email_verified, which only fresh installs would notice).
exports.up = function (knex) {
  return knex.schema.createTable('users', (table) => {
    table.increments('id').primary();
    table.string('name', 120).notNullable();
    table.string('email', 255).notNullable().unique();
    table.string('password_hash', 255).notNullable();
    table.boolean('is_verified').notNullable().defaultTo(false);
    table.string('verification_token', 64).nullable();
    table.boolean('is_admin').notNullable().defaultTo(false);
    table.string('plan', 32).notNullable().defaultTo('free');
    table.timestamp('last_login_at').nullable();
    table.timestamps(true, true);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('users');
};
