exports.up = function (knex) {
  return knex.schema.createTable('ip_reputation', (table) => {
    table.increments('id').primary();
    table.string('ip_address', 45).notNullable().unique();
    table.integer('reputation_score').notNullable().defaultTo(50);
    table.integer('total_connections').notNullable().defaultTo(0);
    table.integer('rejected_connections').notNullable().defaultTo(0);
    table.timestamp('last_seen_at').nullable();
    table.timestamps(true, true);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('ip_reputation');
};
