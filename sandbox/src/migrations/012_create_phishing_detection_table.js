exports.up = function (knex) {
  return knex.schema.createTable('phishing_detection', (table) => {
    table.increments('id').primary();
    table.integer('email_id').unsigned().notNullable().references('id').inTable('emails').onDelete('CASCADE');
    table.float('confidence').notNullable();
    table.string('verdict', 16).notNullable(); // clean|suspicious|phishing
    table.text('indicators');
    table.timestamp('detected_at').notNullable().defaultTo(knex.fn.now());
    table.index(['email_id']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('phishing_detection');
};
