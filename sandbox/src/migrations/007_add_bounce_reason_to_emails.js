// Added on a feature branch at the same time as 007_create_webhooks_table.js (duplicate prefix).
exports.up = function (knex) {
  return knex.schema.alterTable('emails', (table) => {
    table.text('bounce_reason').nullable();
  });
};

exports.down = function (knex) {
  return knex.schema.alterTable('emails', (table) => {
    table.dropColumn('bounce_reason');
  });
};
