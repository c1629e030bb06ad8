exports.up = function (knex) {
  return knex.schema.createTable('suppression_list', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().references('id').inTable('users').onDelete('CASCADE');
    table.string('email', 255).notNullable();
    table.string('reason', 32).notNullable(); // hard_bounce|complaint|unsubscribe|manual
    table.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    table.unique(['user_id', 'email']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('suppression_list');
};
