exports.up = function (knex) {
  return knex.schema.createTable('security_blacklists', (table) => {
    table.increments('id').primary();
    table.string('type', 16).notNullable(); // ip|domain|email
    table.string('value', 255).notNullable();
    table.string('reason', 255);
    table.boolean('active').notNullable().defaultTo(true);
    table.timestamp('expires_at').nullable();
    table.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    table.unique(['type', 'value']);
    table.index(['value', 'active']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('security_blacklists');
};
