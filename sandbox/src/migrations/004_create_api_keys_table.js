exports.up = function (knex) {
  return knex.schema.createTable('api_keys', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.string('name', 100).notNullable();
    table.string('key_prefix', 12).notNullable();
    table.string('key_hash', 128).notNullable().unique();
    table.text('permissions').defaultTo('["send"]');
    table.boolean('is_active').notNullable().defaultTo(true);
    table.timestamp('last_used_at').nullable();
    table.timestamps(true, true);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('api_keys');
};
