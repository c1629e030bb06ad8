exports.up = function (knex) {
  return knex.schema.createTable('spam_analysis', (table) => {
    table.increments('id').primary();
    table.integer('email_id').unsigned().notNullable().references('id').inTable('emails').onDelete('CASCADE');
    table.float('score').notNullable();
    table.boolean('is_spam').notNullable().defaultTo(false);
    table.text('rules'); // JSON list of matched rules
    table.timestamp('analyzed_at').notNullable().defaultTo(knex.fn.now());
    table.index(['email_id']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('spam_analysis');
};
