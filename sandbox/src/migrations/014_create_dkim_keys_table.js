exports.up = function (knex) {
  return knex.schema.createTable('dkim_keys', (table) => {
    table.increments('id').primary();
    table.integer('domain_id').unsigned().notNullable().references('id').inTable('domains').onDelete('CASCADE');
    table.string('selector', 63).notNullable().defaultTo('ultrazend');
    table.text('public_key').notNullable();
    table.string('private_key_ref', 255).notNullable(); // path in the key store, never the key itself
    table.boolean('is_active').notNullable().defaultTo(true);
    table.timestamps(true, true);
    table.unique(['domain_id', 'selector']);
  });
};

exports.down = function (knex) {
  return knex.schema.dropTableIfExists('dkim_keys');
};
