exports.up = function (knex) {
  return knex.schema.createTable('smtp_connections', (table) => {
    table.increments('id').primary();
    table.string('remote_address', 45).notNullable();
    table.string('hostname', 255);
    table.string('server_type', 12).notNullable(); // mx|submission
    table.string('status', 20).notNullable(); // accepted|rejected|closed
    table.string('reject_reason', 255);
    table.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    table.index(['remote_address', 'created_at']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('smtp_connections');
};
