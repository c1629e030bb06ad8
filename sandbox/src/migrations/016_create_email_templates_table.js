exports.up = function (knex) {
  return knex.schema.createTable('email_templates', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.string('name', 120).notNullable();
    table.string('subject', 998).notNullable();
    table.text('html_body');
    table.text('text_body');
    table.timestamps(true, true);
    table.unique(['user_id', 'name']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('email_templates');
};
