exports.up = function (knex) {
  return knex.schema.createTable('webhooks', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.string('url', 2048).notNullable();
    table.text('events').notNullable(); // JSON array: ["delivered","bounced",...]
    table.string('secret', 128).notNullable();
    table.boolean('is_active').notNullable().defaultTo(true);
    table.integer('failure_count').notNullable().defaultTo(0);
    table.timestamp('last_triggered_at').nullable();
    table.timestamps(true, true);
    table.index(['user_id', 'is_active']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('webhooks');
};
