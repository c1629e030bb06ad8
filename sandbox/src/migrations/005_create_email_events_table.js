exports.up = function (knex) {
  return knex.schema.createTable('email_events', (table) => {
    table.increments('id').primary();
    table.integer('email_id').unsigned().notNullable().references('id').inTable('emails').onDelete('CASCADE');
    table.string('event_type', 30).notNullable(); // sent|delivered|opened|clicked|bounced|complained
    table.text('details');
    table.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    table.index(['email_id', 'event_type']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('email_events');
};
