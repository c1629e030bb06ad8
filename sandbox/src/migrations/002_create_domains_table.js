exports.up = function (knex) {
  return knex.schema.createTable('domains', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.string('domain_name', 255).notNullable().unique();
    table.boolean('is_verified').notNullable().defaultTo(false); // DNS (SPF/DKIM) verified
    table.string('verification_token', 64);
    table.timestamps(true, true);
    table.index(['user_id']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('domains');
};
