exports.up = function (knex) {
  return knex.schema.createTable('rate_limit_violations', (table) => {
    table.increments('id').primary();
    table.string('ip_address', 45).notNullable();
    table.integer('user_id').unsigned().references('id').inTable('users').onDelete('SET NULL');
    table.string('limit_type', 64).notNullable();
    table.integer('attempts').notNullable().defaultTo(1);
    table.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    table.index(['ip_address', 'created_at']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('rate_limit_violations');
};
