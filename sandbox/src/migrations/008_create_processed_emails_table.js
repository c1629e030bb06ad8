exports.up = function (knex) {
  return knex.schema.createTable('processed_emails', (table) => {
    table.increments('id').primary();
    table.integer('email_id').unsigned().references('id').inTable('emails').onDelete('CASCADE');
    table.string('message_id', 255).notNullable();
    table.string('direction', 10).notNullable(); // inbound|outbound
    table.string('result', 20).notNullable(); // accepted|rejected|quarantined
    table.text('details');
    table.timestamp('processed_at').notNullable().defaultTo(knex.fn.now());
    table.index(['message_id']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('processed_emails');
};
