exports.up = function (knex) {
  return knex.schema.createTable('emails', (table) => {
    table.increments('id').primary();
    table.integer('user_id').unsigned().references('id').inTable('users').onDelete('SET NULL');
    table.integer('domain_id').unsigned().references('id').inTable('domains').onDelete('SET NULL');
    table.string('message_id', 255).notNullable().unique();
    table.string('from_email', 255).notNullable();
    table.text('to_email').notNullable();
    table.string('subject', 998);
    table.string('status', 20).notNullable().defaultTo('queued'); // queued|sent|delivered|bounced|failed|received
    table.integer('size_bytes').defaultTo(0);
    table.timestamp('sent_at').nullable();
    table.timestamps(true, true);
    table.index(['user_id']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('emails');
};
