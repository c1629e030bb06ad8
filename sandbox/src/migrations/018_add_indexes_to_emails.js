exports.up = function (knex) {
  return knex.schema.alterTable('emails', (table) => {
    table.index(['status'], 'emails_status_index');
    table.index(['created_at'], 'emails_created_at_index');
  });
};

exports.down = function (knex) {
  return knex.schema.alterTable('emails', (table) => {
    table.dropIndex(['status'], 'emails_status_index');
    table.dropIndex(['created_at'], 'emails_created_at_index');
  });
};
